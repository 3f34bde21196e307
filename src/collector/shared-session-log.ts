/**
 * What the collector needs of a log shared with other collector replicas
 * (JetStream): claims of event_ids that last beyond the stream's
 * de-duplication window, appends that name their Nats-Msg-Id, and the
 * waits of this replica's view (SharedLogApplier). Every failure is a
 * CollectorError (UNAVAILABLE: the client may retry here or elsewhere).
 */
import { SessionEventsError } from "../errors.js";
import type { SharedLogApplier } from "../state/shared-log-applier.js";
import type { IdempotencyKeys } from "../store/jetstream/idempotency.js";
import type { JetStreamLog } from "../store/jetstream/jetstream-log.js";
import { CollectorError } from "./errors.js";

export interface SharedSessionLog {
  /** The last position this replica has applied. */
  readonly applied: bigint;
  /** Until this replica has applied every write acknowledged before the call. */
  readIndex(): Promise<void>;
  /** Until this replica has applied `sequence`. */
  waitApplied(sequence: bigint, timeoutMs?: number): Promise<void>;
  /** Claim an event_id for a session id: true if this call made the claim. */
  claim(eventId: string, sessionId: string): Promise<boolean>;
  appendStart(eventId: string, sessionId: string, entry: Uint8Array): Promise<{ sequence: bigint; duplicate: boolean }>;
  appendEnd(sessionId: string, entry: Uint8Array): Promise<{ sequence: bigint; duplicate: boolean }>;
}

/** The sessions family on JetStream: one subject per session, event_ids claimed in a KV bucket. */
export class JetStreamSessionLog implements SharedSessionLog {
  constructor(
    private readonly log: JetStreamLog,
    private readonly ids: IdempotencyKeys,
    private readonly applier: SharedLogApplier,
  ) {}

  get applied(): bigint {
    return this.applier.applied;
  }

  readIndex(): Promise<void> {
    return unavailable("the log", () => this.applier.readIndex());
  }

  waitApplied(sequence: bigint, timeoutMs?: number): Promise<void> {
    return unavailable("the log", () => this.applier.waitApplied(sequence, timeoutMs));
  }

  async claim(eventId: string, sessionId: string): Promise<boolean> {
    return unavailable("the event_id's claim", async () => (await this.ids.claim(eventId, sessionId)).created);
  }

  appendStart(eventId: string, sessionId: string, entry: Uint8Array) {
    // Keyed by event_id: within the window, every replica's copy of this start is stored once.
    return unavailable("the event", () =>
      this.log.appendToSession(sessionId, [entry], { msgId: `start:${Buffer.from(eventId).toString("base64url")}` }),
    );
  }

  appendEnd(sessionId: string, entry: Uint8Array) {
    return unavailable("the event", () =>
      this.log.appendToSession(sessionId, [entry], { msgId: `end:${Buffer.from(sessionId).toString("base64url")}` }),
    );
  }
}

/** Failures of the shared log as UNAVAILABLE: nothing is known to be stored, a retry is safe (idempotent). */
async function unavailable<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (e instanceof CollectorError) throw e;
    const code = e instanceof SessionEventsError ? e.code : undefined;
    throw new CollectorError(
      "UNAVAILABLE",
      code === "UNAVAILABLE" ? (e as Error).message : `${what} could not be stored or read: ${(e as Error).message}`,
      [],
      e,
    );
  }
}
