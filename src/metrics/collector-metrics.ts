/**
 * Every metric of the collector, on a registry of its own (two collectors in
 * one process, as in tests, do not share counters). Names follow Prometheus
 * conventions; the gRPC ones are those of go-grpc-prometheus, so existing
 * dashboards and alerts apply. Labels stay bounded: a VRP event_type outside
 * the known vocabulary counts as "other" (event_type is an open string, and
 * one time series per stranger's string would grow without end).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { isKnownVrpEventType } from "../contract/vrp-vocabulary.js";
import { registerMaintenanceMetrics, type MaintenanceMetrics } from "./maintenance.js";

const PREFIX = "session_events_";

export type EventFamily = "session" | "vrp";
/** Who wrote the event: a client, or the collector (a derived STATE_CHANGE / AUDIT_EVENT). */
export type EventOrigin = "client" | "derived";

/** What the gauges read at scrape time. */
export interface GaugeSources {
  openSessions(): number;
  /** Each open Subscribe's distance behind the end of the log, in records. */
  subscriberLags(): number[];
  /** Open streams now held back by backpressure, by RPC. */
  heldBack(): Record<string, number>;
}

export class CollectorMetrics {
  readonly registry = new Registry();

  readonly callsStarted = new Counter({
    name: "grpc_server_started_total",
    help: "RPCs started on the server.",
    labelNames: ["grpc_type", "grpc_service", "grpc_method"] as const,
    registers: [this.registry],
  });
  readonly callsHandled = new Counter({
    name: "grpc_server_handled_total",
    help: "RPCs completed on the server, by status code.",
    labelNames: ["grpc_type", "grpc_service", "grpc_method", "grpc_code"] as const,
    registers: [this.registry],
  });
  readonly callSeconds = new Histogram({
    name: "grpc_server_handling_seconds",
    help: "Time from an RPC's start to its status (a stream: its whole life).",
    labelNames: ["grpc_type", "grpc_service", "grpc_method"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly eventsStored = new Counter({
    name: `${PREFIX}events_stored_total`,
    help: 'Events durably stored, by family, type (contract name for sessions, event_type for VRP; unknown VRP types as "other") and origin.',
    labelNames: ["family", "type", "origin"] as const,
    registers: [this.registry],
  });

  readonly logAppends = new Counter({
    name: `${PREFIX}log_appended_records_total`,
    help: "Records made durable in the event log.",
    registers: [this.registry],
  });
  readonly logFsyncs = new Counter({
    name: `${PREFIX}log_fsyncs_total`,
    help: "Durable writes of the event log (O_DSYNC: a write and an fdatasync in one system call), one per batch: group commit.",
    registers: [this.registry],
  });
  readonly logFsyncsOnLoop = new Counter({
    name: `${PREFIX}log_fsyncs_on_event_loop_total`,
    help: "Of the fdatasyncs, those written on the event loop (a lone small batch while writes are quick): every call waited for each.",
    registers: [this.registry],
  });
  readonly logBatchRecords = new Histogram({
    name: `${PREFIX}log_batch_records`,
    help: "Records per durable batch (per fdatasync).",
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers: [this.registry],
  });
  readonly logFsyncSeconds = new Histogram({
    name: `${PREFIX}log_fsync_seconds`,
    help: "Duration of one durable (O_DSYNC) write of the event log.",
    // Fine below a millisecond, where a solid-state or virtual disk's syncs fall (and where the bench reads a median).
    buckets: [
      0.00005, 0.0001, 0.00015, 0.0002, 0.00025, 0.0003, 0.0004, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05, 0.1, 0.25, 1,
    ],
    registers: [this.registry],
  });

  /** Checkpoint and retention metrics: see maintenance.ts. */
  readonly maintenance: MaintenanceMetrics = registerMaintenanceMetrics(this.registry);

  constructor(sources: GaugeSources) {
    collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
    new Gauge({
      name: `${PREFIX}sessions_open`,
      help: "Sessions started and not yet ended.",
      registers: [this.registry],
      collect() {
        this.set(sources.openSessions());
      },
    });
    new Gauge({
      name: `${PREFIX}subscribers`,
      help: "Open Subscribe streams.",
      registers: [this.registry],
      collect() {
        this.set(sources.subscriberLags().length);
      },
    });
    new Gauge({
      name: `${PREFIX}subscriber_lag_records`,
      help: "How many log records the furthest-behind subscriber (stat=max) and all subscribers together (stat=sum) have yet to read.",
      labelNames: ["stat"] as const,
      registers: [this.registry],
      collect() {
        const lags = sources.subscriberLags();
        this.set(
          { stat: "max" },
          lags.reduce((a, b) => Math.max(a, b), 0),
        );
        this.set(
          { stat: "sum" },
          lags.reduce((a, b) => a + b, 0),
        );
      },
    });
    new Gauge({
      name: `${PREFIX}streams_held_back`,
      help: "Open streams now paused by backpressure (StreamEvents: reading paused; Subscribe: waiting for the client to read).",
      labelNames: ["rpc"] as const,
      registers: [this.registry],
      collect() {
        const held = sources.heldBack();
        for (const rpc of ["StreamEvents", "Subscribe"]) this.set({ rpc }, held[rpc] ?? 0);
      },
    });
  }

  /** One durable batch of the event log. */
  logSynced(records: number, seconds: number, onLoop: boolean): void {
    this.logAppends.inc(records);
    this.logFsyncs.inc();
    if (onLoop) this.logFsyncsOnLoop.inc();
    this.logBatchRecords.observe(records);
    this.logFsyncSeconds.observe(seconds);
  }

  eventStored(family: EventFamily, type: string, origin: EventOrigin = "client"): void {
    this.eventsStored.inc({ family, type: family === "vrp" && !isKnownVrpEventType(type) ? "other" : type, origin });
  }
}
