/**
 * The emitter's background sender: delivers the spool in order, a batch of
 * at most `concurrency` events at a time, never inside a host's call.
 *
 * The host's own calls come first: while one is in flight to the collector
 * (`hostSending`), batches shrink to `concurrencyWhileHostSends` events, so a
 * host call queues at the collector behind at most that many of the
 * sender's (the collector serves its calls in arrival order, and a batch of
 * 8 ahead of a host call doubled its latency). The drain still moves, one
 * batch at a time, however busy the host is.
 *
 * Within a batch, an end whose start is in the same batch waits for it (it
 * needs the session id the start gets). Delivery advances over the longest
 * run of records from the oldest that were delivered or refused for good; an
 * outage stops the batch there, and everything after it is sent again later
 * (the collector stores an event_id once, so nothing is stored twice). While
 * the collector is unreachable the sender backs off with the one retry
 * policy (no elapsed budget: the spool waits as long as it must), capped at
 * `maxWaitMs`.
 */
import type { SessionEndEventJson, SessionStartEventJson } from "../contract/types.js";
import { Backoff, type RetryPolicy } from "./retry.js";
import type { Spool, SpoolRecord, SpooledEvent } from "./spool.js";

export interface SenderHooks {
  /** Send one event once (no retries: the sender retries); resolves with a start's session id. */
  readonly send: (event: SpooledEvent) => Promise<string | undefined>;
  /** Whether a failure means "try again later" (the collector is unreachable) rather than a refusal. */
  readonly isOutage: (error: unknown) => boolean;
  readonly placeholderOf: (start: SessionStartEventJson) => string;
  readonly onDelivered: (count: number) => void;
  readonly onRejected: (event: SpooledEvent, error: unknown) => void;
  /** The first failure of an outage (not every attempt during it). */
  readonly onOutage: (error: unknown, pending: number) => void;
  readonly onRetry: (records: number) => void;
  readonly onSpoolError: (error: unknown) => void;
  /** Whether a host's call is on its way to the collector now. */
  readonly hostSending?: () => boolean;
}

export class SpoolSender {
  /** Set while the last attempt failed for an outage. */
  outage: unknown;
  private draining: Promise<number> | undefined;
  private wake: (() => void) | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private readonly backoff: Backoff;

  constructor(
    private readonly spool: Spool,
    private readonly hooks: SenderHooks,
    private readonly options: {
      readonly concurrency: number;
      /** Batch size while a host's call is in flight (at least 1: the drain never stops for the host). */
      readonly concurrencyWhileHostSends?: number;
      readonly policy: RetryPolicy;
      readonly maxWaitMs: number;
    },
  ) {
    this.backoff = new Backoff(options.policy);
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Something was spooled: look now, unless backing off from an outage (flush() still tries at once). */
  poke(): void {
    if (this.outage === undefined || this.stopped) this.wake?.();
  }

  /** Deliver until the spool is empty or the collector is unreachable; concurrent callers share one run. Resolves with how many were delivered. */
  drain(): Promise<number> {
    this.draining ??= this.drainOnce().finally(() => (this.draining = undefined));
    return this.draining;
  }

  /** Stop after the batch in flight (its outcome is kept). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.poke();
    await this.loop;
    await this.draining?.catch(() => 0);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (this.spool.pendingCount === 0) {
          await this.spool.reclaim();
          await this.sleep(Infinity);
          continue;
        }
        await this.drain();
      } catch (e) {
        this.hooks.onSpoolError(e);
        this.outage ??= e;
      }
      if (this.outage === undefined) {
        this.backoff.reset();
        continue;
      }
      const wait = this.backoff.next(this.outage, { budget: false }) ?? this.options.policy.maxIntervalMs;
      await this.sleep(Math.min(wait, this.options.maxWaitMs));
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve(); // stop() may have come while the loop was busy
    return new Promise<void>((resolve) => {
      const timer = ms === Infinity ? undefined : setTimeout(done, ms);
      timer?.unref();
      this.wake = done;
      function done() {
        clearTimeout(timer);
        resolve();
      }
    }).finally(() => (this.wake = undefined));
  }

  private async drainOnce(): Promise<number> {
    let delivered = 0;
    for (;;) {
      const batch = await this.spool.pending(this.batchSize());
      if (batch.length === 0) {
        this.outage = undefined;
        break;
      }
      const { count, outage } = await this.sendBatch(batch);
      delivered += count;
      if (outage !== undefined) {
        if (this.outage === undefined) this.hooks.onOutage(outage, this.spool.pendingCount);
        this.outage = outage;
        break;
      }
      this.outage = undefined;
      if (this.stopped) break;
    }
    return delivered;
  }

  private batchSize(): number {
    const { concurrency, concurrencyWhileHostSends = 1 } = this.options;
    return this.hooks.hostSending?.() ? Math.max(1, Math.min(concurrency, concurrencyWhileHostSends)) : concurrency;
  }

  private async sendBatch(batch: readonly SpoolRecord[]): Promise<{ count: number; outage: unknown }> {
    const starts = new Map<string, Promise<string | undefined>>();
    const attempts = batch.map((record) => {
      const { spooled } = record;
      if (spooled.kind === "start") {
        const sent = this.hooks.send(spooled).then((id) => {
          if (id) this.spool.learn(this.hooks.placeholderOf(spooled.event), id);
          return id;
        });
        starts.set(this.hooks.placeholderOf(spooled.event), sent);
        return sent;
      }
      return this.sendEnd(spooled.event, starts.get(spooled.event.session_id));
    });
    const outcomes = await Promise.allSettled(attempts);
    let through: bigint | undefined;
    let count = 0;
    let outage: unknown;
    for (const [i, outcome] of outcomes.entries()) {
      const record = batch[i]!;
      if (outcome.status === "rejected") {
        if (this.hooks.isOutage(outcome.reason)) {
          outage = outcome.reason;
          this.hooks.onRetry(batch.length - i);
          break;
        }
        const sent = resolvedEvent(record.spooled, (id) => this.spool.resolvedId(id));
        await this.spool.setAside(sent, outcome.reason);
        this.hooks.onRejected(sent, outcome.reason);
      } else count++;
      through = record.sequence;
    }
    if (through !== undefined) this.spool.advance(through);
    if (count > 0) this.hooks.onDelivered(count);
    return { count, outage };
  }

  /** An end goes with the session id its start got: after the start, if that is in the same batch. */
  private async sendEnd(
    event: SessionEndEventJson,
    start: Promise<string | undefined> | undefined,
  ): Promise<string | undefined> {
    const failure =
      start &&
      (await start.then(
        () => undefined,
        (e: unknown) => e,
      ));
    const sessionId = this.spool.resolvedId(event.session_id);
    // Its start is not delivered yet (an outage): the end waits for the next attempt.
    if (!sessionId && failure !== undefined && this.hooks.isOutage(failure)) throw failure;
    return this.hooks.send({ kind: "end", event: sessionId ? { ...event, session_id: sessionId } : event });
  }
}

/** The event as sent: an end with its placeholder swapped for the session id, where known. */
function resolvedEvent(spooled: SpooledEvent, resolvedId: (placeholder: string) => string | undefined): SpooledEvent {
  if (spooled.kind !== "end") return spooled;
  const id = resolvedId(spooled.event.session_id);
  return id ? { kind: "end", event: { ...spooled.event, session_id: id } } : spooled;
}
