/**
 * A replica's view of a shared log: its own state store, applied from the
 * shared stream in order by one follower (replay, then live), and the
 * waits that make reads consistent across replicas:
 *
 * - `waitApplied(s)`: until this replica has applied position `s` (an
 *   answer that depends on a record it just stored, or that another replica
 *   named);
 * - `readIndex()`: until it has applied everything the stream held when the
 *   call began (its last sequence then) — what a read needs to see every
 *   write acknowledged before it, on any replica.
 *
 * Both are bounded by a deadline: a replica cut off from its cluster answers
 * UNAVAILABLE rather than a stale NOT_FOUND.
 */
import { SessionEventsError } from "../errors.js";
import type { DerivedState } from "./derived-state.js";

/** A record of a shared log: a group is one position, its records say where they stand in it. */
export interface SharedRecord {
  readonly sequence: bigint;
  readonly payload: Uint8Array;
  readonly index: number;
  readonly groupSize: number;
}

/** What the applier needs of a shared log (JetStreamLog has it). */
export interface SharedLog {
  /** Replay from `fromSequence`, then live, gap-free, until `signal` aborts. */
  tail(fromSequence: bigint, signal?: AbortSignal): AsyncIterable<SharedRecord>;
  /** The stream's last sequence now (asked of the cluster). */
  refresh(): Promise<bigint>;
}

/** This replica could not bring its view up to the position needed (UNAVAILABLE: another replica may answer). */
export class CatchUpError extends SessionEventsError {
  override name = "CatchUpError";
  constructor(message: string, cause?: unknown) {
    super(message, { code: "UNAVAILABLE", cause });
  }
}

/** How long a read waits for this replica to catch up by default (the gRPC call's own deadline may be shorter). */
export const DEFAULT_CATCH_UP_MS = 10_000;

export class SharedLogApplier {
  private appliedSequence: bigint;
  private waiters: { sequence: bigint; resolve: () => void }[] = [];
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** Set if applying failed: the replica's state is then behind until a restart. */
  failure: Error | undefined;

  constructor(
    private readonly log: SharedLog,
    readonly state: DerivedState,
    private readonly what: string,
    private readonly catchUpMs = DEFAULT_CATCH_UP_MS,
  ) {
    this.appliedSequence = state.applied;
  }

  /** The last position applied (with every record of its group). */
  get applied(): bigint {
    return this.appliedSequence;
  }

  /** Follow the log from after what the store holds; checkpoint on the state's own interval. */
  start(onError: (error: Error) => void, checkpointIntervalMs: number): void {
    this.running = (async () => {
      for await (const record of this.log.tail(this.state.applied + 1n, this.abort.signal)) {
        this.state.apply(record);
        if (record.index !== record.groupSize - 1) continue;
        this.state.settle();
        this.appliedSequence = record.sequence;
        this.wake();
      }
    })().catch((e: unknown) => {
      if (this.abort.signal.aborted) return;
      this.failure = e as Error;
      onError(this.failure);
    });
    this.timer = setInterval(() => {
      if (this.failure) return;
      try {
        this.state.checkpoint();
      } catch (e) {
        this.failure = e as Error;
        onError(this.failure);
      }
    }, checkpointIntervalMs);
    this.timer.unref();
  }

  /** Until this replica has applied `sequence` (UNAVAILABLE after the deadline). */
  waitApplied(sequence: bigint, timeoutMs = this.catchUpMs): Promise<void> {
    if (this.failure) return Promise.reject(this.failed());
    if (this.appliedSequence >= sequence) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = {
        sequence,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(
          new CatchUpError(
            `this collector's view of the ${this.what} log is behind (applied ${this.appliedSequence}, needs ${sequence}) and did not catch up within ${timeoutMs} ms; retry, or ask another collector`,
          ),
        );
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Until this replica has applied what the stream held when called. */
  async readIndex(timeoutMs = this.catchUpMs): Promise<void> {
    const began = Date.now();
    let last: bigint;
    try {
      last = await this.log.refresh();
    } catch (e) {
      throw new CatchUpError(
        `cannot learn where the ${this.what} log ends (is the NATS cluster reachable?): ${(e as Error).message}`,
        e,
      );
    }
    await this.waitApplied(last, Math.max(1, timeoutMs - (Date.now() - began)));
  }

  /** Stop following (the log's close ends a read in progress too). */
  stop(): void {
    this.abort.abort();
    if (this.timer) clearInterval(this.timer);
  }

  /** Stop following; checkpoint what was applied; close the store. */
  async close(): Promise<void> {
    this.stop();
    await this.running;
    await this.state.close();
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const ready = this.waiters.filter((w) => w.sequence <= this.appliedSequence);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.sequence > this.appliedSequence);
    for (const w of ready) w.resolve();
  }

  private failed(): CatchUpError {
    return new CatchUpError(
      `this collector's state store failed (${this.failure!.message}); restart it to rebuild from its last checkpoint`,
    );
  }
}
