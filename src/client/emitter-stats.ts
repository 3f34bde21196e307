/**
 * What an emitter has done, for `emitter.stats()` and, when the host uses
 * prom-client, as metrics in the host's registry. The registry is
 * duck-typed (anything with prom-client's `registerMetric`): this package
 * does not depend on prom-client, and a host without it pays nothing.
 */

export interface EmitterStats {
  /** Events in the spool, not yet delivered. */
  readonly spooledEvents: number;
  /** Bytes of the spool's log on disk. */
  readonly spooledBytes: number;
  /** Age of the oldest event waiting in the spool (0: none waiting). */
  readonly oldestPendingAgeMs: number;
  /** Events the collector acknowledged (at once or from the spool). */
  readonly delivered: number;
  /** Events put in the spool. */
  readonly spooled: number;
  /** Attempts that failed for a reason worth another (an outage) and were or will be made again. */
  readonly retried: number;
  /** Events refused for good: by the collector, or before sending for a rule it would refuse them by. */
  readonly refused: number;
  /** Events the emitter could not keep (spool full or unavailable while the collector was unreachable): the host was told. */
  readonly dropped: number;
  /** Anomalies the spool reported (damage, losses, failed writes). */
  readonly spoolErrors: number;
  readonly breaker: "closed" | "open" | "half-open";
  /** Whether the spool is open (false: configured but not opened yet, or failing). */
  readonly spoolAvailable: boolean;
  /** Times the spool's progress (state.json) was written since open: in batches, not per event. */
  readonly stateWrites: number;
}

export type Counter = "delivered" | "spooled" | "retried" | "refused" | "dropped" | "spoolErrors";

/** The subset of a prom-client Registry the emitter uses. */
export interface MetricsRegistry {
  registerMetric(metric: unknown): void;
}

const METRICS: readonly {
  key: keyof EmitterStats;
  name: string;
  help: string;
  type: "gauge" | "counter";
  scale?: number;
}[] = [
  { key: "spooledEvents", name: "spool_events", help: "Events in the spool, not yet delivered", type: "gauge" },
  { key: "spooledBytes", name: "spool_bytes", help: "Bytes of the spool's log on disk", type: "gauge" },
  {
    key: "oldestPendingAgeMs",
    name: "spool_oldest_pending_age_seconds",
    help: "Age of the oldest event waiting in the spool",
    type: "gauge",
    scale: 1 / 1000,
  },
  { key: "delivered", name: "delivered_total", help: "Events the collector acknowledged", type: "counter" },
  { key: "spooled", name: "spooled_total", help: "Events put in the spool", type: "counter" },
  { key: "retried", name: "retried_total", help: "Failed attempts that are tried again", type: "counter" },
  { key: "refused", name: "refused_total", help: "Events refused for good", type: "counter" },
  { key: "dropped", name: "dropped_total", help: "Events that could not be kept (the host was told)", type: "counter" },
  { key: "spoolErrors", name: "spool_errors_total", help: "Anomalies the spool reported", type: "counter" },
];

/**
 * Register the emitter's numbers in a prom-client registry, read when it is
 * scraped. Each metric is an object of prom-client's Metric shape (name,
 * help, type, aggregator, get, reset), labelled with the component.
 */
export function registerEmitterMetrics(
  registry: MetricsRegistry,
  read: () => EmitterStats,
  component: string,
  prefix = "session_events_emitter_",
): void {
  for (const m of METRICS) {
    const name = `${prefix}${m.name}`;
    const snapshot = () => ({
      name,
      help: m.help,
      type: m.type,
      aggregator: "sum",
      values: [{ value: Number(read()[m.key]) * (m.scale ?? 1), labels: { component } }],
    });
    registry.registerMetric({
      name,
      help: m.help,
      type: m.type,
      aggregator: "sum",
      labelNames: ["component"],
      get: async () => snapshot(),
      reset: () => {},
    });
  }
}
