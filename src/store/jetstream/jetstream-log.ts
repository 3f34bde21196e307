/**
 * JetStreamLog: the EventLog of one family (sessions, vrp) on a JetStream
 * stream shared by every collector replica.
 *
 * Positions are stream sequences: the same on every replica and every
 * connection. An atomic group is ONE message (JetStream 2.9 has no atomic
 * multi-message batch), so a group has ONE position: every record of it is
 * read back with that sequence and its `index` in the group. This is the seam
 * change a shared log needs (see docs/scaling.md): positions name units of
 * atomicity, and no caller learns a position before the stream has ordered
 * its append: a group that names its own position (GroupAt) is published
 * with the stream-wide expected last sequence, so the position it is built
 * for is the one it gets, or it is not stored.
 *
 * Appends resolve only after JetStream's publish acknowledgement (on a
 * replicated stream: stored by a quorum). Reads and follows are ordered
 * consumers: gap-free, in stream order, recreated by the client when a
 * server goes away.
 */
import { randomUUID } from "node:crypto";
import {
  JetStreamApiError,
  type Consumer,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { SessionEventsError } from "../../errors.js";
import type { EventLog, GroupAt, LogRecord } from "../event-log.js";
import { LogClosedError } from "../errors.js";
import { decodeGroup, encodeGroup } from "./group-codec.js";
import { lastOfSubject, publishIfSubjectAt, SubjectMovedError, type SerialisationMode } from "./conditional-publish.js";
import { JetStreamUnavailableError, SessionSequenceConflictError } from "./errors.js";
import type { FamilyNames } from "./names.js";
import { isStreamNotFound, publishAcknowledged, withTransientRetries, WRONG_LAST_SEQUENCE } from "./publish.js";

/** A record of a JetStream log: all records of one group share `sequence`. */
export interface JetStreamRecord extends LogRecord {
  /** The record's place in its group (0 for a single record). */
  readonly index: number;
  /** How many records its group has (1 for a single record). */
  readonly groupSize: number;
  /** The NATS subject it was stored under (general or one session's). */
  readonly subject: string;
}

export interface AppendOptions {
  /** Nats-Msg-Id: the same id within the stream's duplicate window is stored once. Default: a random one. */
  readonly msgId?: string;
  /**
   * Append only if the session's last record is at this position (0n: the
   * session has none yet); otherwise SessionSequenceConflictError.
   */
  readonly expectedLastSequence?: bigint;
}

export interface AppendResult {
  readonly sequence: bigint;
  /** True when the stream had already stored this msgId (nothing new was stored). */
  readonly duplicate: boolean;
}

/** Another writer appended first: the stream's last message is not the one expected. */
export class StreamMovedError extends SessionEventsError {
  override name = "StreamMovedError";
  constructor(
    readonly expected: bigint,
    /** The stream's last sequence now, if the server said it. */
    readonly actual: bigint | undefined,
  ) {
    super(`the stream's last message is at ${actual ?? "another position"}, not ${expected}; catch up and retry`, {
      code: "ABORTED",
    });
  }
}

/** A follower that got nothing for this long while the stream holds more is replaced. */
const STALL_MS = 3000;

export interface JetStreamLogOptions {
  /** How long an append may retry a publish that got no acknowledgement. Default 10000 ms. */
  readonly publishDeadlineMs?: number;
  /** How expected-sequence appends are checked (conditional-publish.ts). Default "stream" (safe everywhere). */
  readonly serialisation?: SerialisationMode;
}

export class JetStreamLog implements EventLog {
  private last = 0n;
  private closed = false;
  private readonly pending = new Set<Promise<unknown>>();
  private readonly stops = new Set<() => void>();
  private readonly publishDeadlineMs: number;
  private readonly serialisation: SerialisationMode;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    readonly names: FamilyNames,
    options: JetStreamLogOptions = {},
  ) {
    this.publishDeadlineMs = options.publishDeadlineMs ?? 10_000;
    this.serialisation = options.serialisation ?? "stream";
  }

  /**
   * Learn where the stream ends now (a replica's view starts there).
   * `justEnsured`: the stream was created or found a moment ago (the engine's
   * open), so a "not found" is a server whose meta layer has not yet applied
   * a creation another server already answered (seen when engines open at
   * once on a cluster; nats-server #8410): asked again until the deadline,
   * it answers. Otherwise a "not found" is final, and fails at once.
   */
  async refresh({ justEnsured = false } = {}): Promise<bigint> {
    const info = await withTransientRetries(
      `stream ${this.names.stream}`,
      this.publishDeadlineMs,
      () => this.jsm.streams.info(this.names.stream),
      justEnsured ? isStreamNotFound : undefined,
    );
    this.seen(BigInt(info.state.last_seq));
    return BigInt(info.state.last_seq);
  }

  append(payload: Uint8Array): Promise<bigint> {
    return this.appendTo(this.names.general, [payload]).then((r) => r.sequence);
  }

  appendGroup(group: readonly Uint8Array[] | GroupAt): Promise<bigint> {
    if (typeof group !== "function") return this.appendTo(this.names.general, group).then((r) => r.sequence);
    return this.appendPositioned(group);
  }

  /** A group built for its position: try at the end of the stream as this process sees it; on a move, look again. */
  private async appendPositioned(build: GroupAt): Promise<bigint> {
    const deadline = Date.now() + this.publishDeadlineMs;
    let last = this.last;
    for (;;) {
      try {
        return (await this.appendAt(this.names.general, build, last)).sequence;
      } catch (e) {
        if (!(e instanceof StreamMovedError) || Date.now() > deadline) throw e;
        last = e.actual ?? (await this.refresh());
      }
    }
  }

  /**
   * Append a group only if the stream's last message (any subject) is
   * `expectedLast`: its position is then `expectedLast + 1`, known before
   * the publish, and `build` names it. Otherwise StreamMovedError, with the
   * stream's last sequence when the server said it: catch up and decide again.
   */
  async appendAt(subject: string, build: GroupAt, expectedLast: bigint, msgId = randomUUID()): Promise<AppendResult> {
    if (this.closed) throw new LogClosedError("the log is closed");
    const { body, headers } = encodeGroup(build(expectedLast + 1n));
    const work = publishAcknowledged(
      this.js,
      { subject, body, headers, msgId, expectedLastStreamSequence: expectedLast },
      this.publishDeadlineMs,
    ).then(
      (ack) => {
        this.seen(BigInt(ack.seq));
        return { sequence: BigInt(ack.seq), duplicate: ack.duplicate };
      },
      (e: unknown) => {
        if (e instanceof JetStreamApiError && e.code === WRONG_LAST_SEQUENCE) {
          const actual = /wrong last sequence: (\d+)/.exec(e.message)?.[1];
          throw new StreamMovedError(expectedLast, actual === undefined ? undefined : BigInt(actual));
        }
        throw e;
      },
    );
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work)).catch(() => {});
    return work;
  }

  /**
   * Append one record or an atomic group to a session's subject. With
   * `expectedLastSequence`, JetStream stores it only if the session's last
   * record is still there: the writers of one session are serialised across
   * replicas (on SessionSequenceConflictError: catch up, decide again, retry).
   */
  appendToSession(
    sessionId: string,
    payloads: readonly Uint8Array[],
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    return this.appendTo(this.names.session(sessionId), payloads, options, sessionId);
  }

  /** The position of a session's last record (0n if it has none), as the stream says now. */
  lastSessionSequence(sessionId: string): Promise<bigint> {
    return withTransientRetries(`session ${JSON.stringify(sessionId)}`, this.publishDeadlineMs, () =>
      lastOfSubject(this.jsm, this.names.stream, this.names.session(sessionId)),
    );
  }

  private appendTo(
    subject: string,
    payloads: readonly Uint8Array[],
    options: AppendOptions = {},
    sessionId?: string,
  ): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new LogClosedError("the log is closed"));
    if (payloads.length === 0)
      return Promise.reject(
        new SessionEventsError("appendGroup: a group needs at least one record", { code: "INVALID_ARGUMENT" }),
      );
    const { body, headers } = encodeGroup(payloads);
    const request = { subject, body, headers, msgId: options.msgId ?? randomUUID() };
    const expected = options.expectedLastSequence;
    const published =
      expected === undefined
        ? publishAcknowledged(this.js, request, this.publishDeadlineMs)
        : publishIfSubjectAt(
            {
              js: this.js,
              jsm: this.jsm,
              stream: this.names.stream,
              mode: this.serialisation,
              deadlineMs: this.publishDeadlineMs,
            },
            { ...request, expectedLastSubjectSequence: expected },
          ).catch((e) => {
            throw e instanceof SubjectMovedError
              ? new SessionSequenceConflictError(sessionId ?? subject, expected, e.actual, e)
              : e;
          });
    const work = published.then((ack) => {
      this.seen(BigInt(ack.seq));
      return { sequence: BigInt(ack.seq), duplicate: ack.duplicate };
    });
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work)).catch(() => {});
    return work;
  }

  /** Every record from `fromSequence` (inclusive) to the end of the stream as of the call. */
  async *read(fromSequence = 1n): AsyncIterable<JetStreamRecord> {
    const end = await this.refresh();
    if (fromSequence > end) return;
    for await (const message of this.messages(fromSequence)) {
      yield* this.records(message);
      // The end as of the call, or nothing more stored right now (limits may have removed `end`).
      if (BigInt(message.seq) >= end || message.info.pending === 0) return;
    }
  }

  /**
   * Replay from `fromSequence`, then go on live, with no gap and no
   * duplicate (one ordered consumer: JetStream recreates it at the next
   * sequence if a server goes away). Ends when the iterator is returned,
   * `signal` aborts, or the log closes.
   */
  async *tail(fromSequence = 1n, signal?: AbortSignal): AsyncIterable<JetStreamRecord> {
    for await (const message of this.messages(fromSequence, signal, true)) yield* this.records(message);
  }

  /**
   * One ordered consumer at a time, from the next sequence wanted. The
   * client recreates it when its server goes away, but not always (seen
   * here: after the stream leader is SIGKILLed, about one follower in five
   * waits forever). So a watchdog: a consumer that has delivered nothing for
   * a while although the stream holds more is replaced by a new one from
   * the next sequence: still in order, no gap, no duplicate.
   */
  /** `persistent`: a follower rides out elections and lost servers (it waits for JetStream, however long); a read gives up after the deadline. */
  private async *messages(fromSequence: bigint, signal?: AbortSignal, persistent = false): AsyncIterable<JsMsg> {
    let next = fromSequence;
    let ended = false;
    const end = () => {
      ended = true;
    };
    signal?.addEventListener("abort", end, { once: true });
    this.stops.add(end);
    try {
      while (!ended && !this.closed && !signal?.aborted) {
        const start = next;
        let consumer: Consumer;
        try {
          consumer = await withTransientRetries(`a reader of ${this.names.stream}`, this.publishDeadlineMs, () =>
            this.js.consumers.get(this.names.stream, start > 1n ? { opt_start_seq: Number(start) } : {}),
          );
        } catch (e) {
          if (persistent && e instanceof JetStreamUnavailableError) continue; // still no leader: wait on
          throw e;
        }
        // Short pulls: heartbeats every second, so a lost server is noticed soon.
        const messages = await consumer.consume({ max_messages: 256, expires: 2000 });
        const stop = () => void messages.stop();
        this.stops.add(stop);
        signal?.addEventListener("abort", stop, { once: true });
        if (ended || this.closed || signal?.aborted) stop(); // stopped while the consumer was being made
        let lastDelivery = Date.now();
        const watchdog = setInterval(() => {
          if (Date.now() - lastDelivery < STALL_MS) return;
          lastDelivery = Date.now();
          void this.jsm.streams.info(this.names.stream).then(
            (info) => (BigInt(info.state.last_seq) >= next ? stop() : undefined),
            () => {},
          );
        }, STALL_MS / 2);
        watchdog.unref();
        try {
          for await (const message of messages) {
            lastDelivery = Date.now();
            next = BigInt(message.seq) + 1n;
            yield message;
          }
        } finally {
          clearInterval(watchdog);
          this.stops.delete(stop);
          signal?.removeEventListener("abort", stop);
          stop();
          void consumer.delete().catch(() => {});
        }
      }
    } finally {
      this.stops.delete(end);
      signal?.removeEventListener("abort", end);
    }
  }

  /** Call `listener` with each record appended after the last one this process knows of. */
  subscribe(listener: (record: LogRecord) => void): () => void {
    const abort = new AbortController();
    void (async () => {
      for await (const record of this.tail(this.last + 1n, abort.signal)) listener(record);
    })().catch(() => {});
    return () => abort.abort();
  }

  /** The highest position this process has seen acknowledged or read (a replica's view, not the cluster's). */
  get lastSequence(): bigint {
    return this.last;
  }

  readonly failure: Error | undefined = undefined;

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.pending]);
    for (const stop of [...this.stops]) stop();
  }

  private *records(message: JsMsg): Iterable<JetStreamRecord> {
    const sequence = BigInt(message.seq);
    this.seen(sequence);
    const payloads = decodeGroup(message.data, message.headers, `${this.names.stream} #${sequence}`);
    for (let index = 0; index < payloads.length; index++) {
      yield { sequence, index, groupSize: payloads.length, subject: message.subject, payload: payloads[index]! };
    }
  }

  private seen(sequence: bigint): void {
    if (sequence > this.last) this.last = sequence;
  }
}
