/**
 * The session collector: validates session events, assigns session ids,
 * keeps every accepted event in the durable log before answering, and answers
 * queries from the state store, which applies the log's records in order
 * (src/state). It never changes that state itself: an accepted event is
 * applied when its record is durable, before its append resolves. It knows
 * nothing of gRPC (src/server wires it to grpc-js).
 *
 * Idempotency: a start is identified by its event_id. A retried start gets
 * the session id it got the first time and is stored once; the same event_id
 * with different content is refused (ALREADY_EXISTS). A repeated end is
 * answered "duplicate" and stored once. Concurrent retries wait for the first.
 */
import { randomUUID } from "node:crypto";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import {
  BUILT_IN_CONTRACT,
  sessionBridges,
  type ServedContract,
  type SessionBridges,
  type SessionMappings,
} from "../bridge/served.js";
import { canonicalJson } from "../contract/canonical.js";
import { encodeMessageChunks } from "../bridge/codec.js";
import { Timestamp } from "../../gen/google/protobuf/timestamp.js";
import { ValidationError } from "../contract/errors.js";
import type { SessionStartEventJson } from "../contract/types.js";
import { timestampFromDate } from "../contract/timestamp.js";
import type { SessionEndEvent, SessionStartEvent } from "../../gen/oneiric/session/v1/session_events.js";
import type { EventLog } from "../store/event-log.js";
import type { DerivedState, PreparedSessionRecord } from "../state/derived-state.js";
import {
  compareTimestamps,
  millisBetween,
  type SessionFilter,
  type SessionRecord,
  type SessionTables,
} from "../state/session-tables.js";
import { CollectorError } from "./errors.js";
import type { SharedSessionLog } from "./shared-session-log.js";

export type { SessionFilter } from "../state/session-tables.js";

export type EmitStatus = "created" | "duplicate";
export type EndStatus = "ended" | "duplicate";

export interface SessionView {
  readonly sessionId: string;
  readonly status: "open" | "ended";
  readonly start: SessionStartEvent;
  readonly end: SessionEndEvent | undefined;
  /** Milliseconds from start to end (0 while open). */
  readonly durationMs: bigint;
}

export interface CollectorOptions {
  /** The contract served (default: this build's). A test may serve a fixture contract. */
  readonly contract?: ServedContract;
  /**
   * The event versions accepted (a transition window); default: the
   * contract's current version only. Each event is validated against the
   * schema of its own version and stored as it came.
   */
  readonly acceptVersions?: readonly string[];
  /**
   * The log is shared with other collector replicas (JetStream): event_ids
   * are claimed across replicas, appends are answered once this replica has
   * applied them, and reads first catch up with the log (read-your-writes
   * on any replica). The state store is this replica's, applied from the
   * shared log by its follower.
   */
  readonly shared?: SharedSessionLog;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 1000;

export class Collector {
  private readonly index: SessionTables;
  /**
   * Starts being stored, by event_id: a retry waits for the first rather
   * than storing a second. An entry leaves only once its start is applied,
   * so no two starts of one event_id are ever in flight (the state store
   * relies on it: PreparedSessionRecord.newEventId).
   */
  private readonly pendingStarts = new Map<string, Promise<{ sessionId: string; status: EmitStatus }>>();
  private readonly pendingEnds = new Map<string, Promise<{ sessionId: string; status: EndStatus }>>();
  private readonly bridges: SessionBridges;
  /** For events already stored: any version of the contract (a window may have closed since). */
  private readonly storedBridges: SessionBridges;
  private readonly mappings: SessionMappings;
  /** The event versions accepted, oldest first. */
  readonly acceptedVersions: readonly string[];
  private readonly shared: SharedSessionLog | undefined;

  /**
   * `maxMessageBytes`: the largest message the server may send. An event is
   * accepted only if a session (its start and end) still fits in one, and
   * ListSessions pages stay within it.
   */
  constructor(
    private readonly log: EventLog,
    private readonly state: DerivedState,
    private readonly maxMessageBytes = 4 * 1024 * 1024,
    options: CollectorOptions = {},
  ) {
    this.index = state.sessions;
    const contract = options.contract ?? BUILT_IN_CONTRACT;
    this.acceptedVersions = checkAcceptedVersions(contract, options.acceptVersions);
    this.bridges = sessionBridges(contract, this.acceptedVersions);
    this.storedBridges = sessionBridges(contract, contract.versions.versions);
    this.mappings = contract.mappings;
    this.shared = options.shared;
  }

  /**
   * Before a read: on a shared log, wait (bounded) until this replica has
   * applied every write acknowledged before now, on any replica; undefined
   * (nothing to wait for) on a log of one's own.
   */
  caughtUp(): Promise<void> | undefined {
    return this.shared?.readIndex();
  }

  /** The largest start or end event accepted: half a message, less room for the envelope. */
  get maxEventBytes(): number {
    return Math.floor((this.maxMessageBytes - ENVELOPE_BYTES) / 2);
  }

  get sessionCount(): number {
    return this.index.size;
  }

  /** Sessions started and not yet ended. */
  get openSessionCount(): number {
    return this.index.openCount;
  }

  async emitStart(event: SessionStartEvent | undefined): Promise<{ sessionId: string; status: EmitStatus }> {
    const checked = validate(() => this.bridges.SessionStartEvent.toJson(required(event)));
    // Encoded once: its size is checked, and the same bytes go into the log.
    const bytes = encodeMessageChunks(this.mappings.SessionStartEvent, event!);
    this.checkSize(byteLength(bytes));
    const known = this.index.sessionOfEvent(checked.event_id);
    if (known) return { sessionId: known.sessionId, status: this.sameStart(known, checked) };
    const inFlight = this.pendingStarts.get(checked.event_id);
    if (inFlight) {
      const first = await inFlight;
      return { sessionId: first.sessionId, status: this.sameStart(this.index.get(first.sessionId)!, checked) };
    }
    const work = this.shared ? this.storeSharedStart(this.shared, checked, bytes) : this.storeStart(event!, bytes);
    this.pendingStarts.set(checked.event_id, work);
    try {
      return await work;
    } finally {
      this.pendingStarts.delete(checked.event_id);
    }
  }

  private async storeStart(
    event: SessionStartEvent,
    bytes: Uint8Array[],
  ): Promise<{ sessionId: string; status: EmitStatus }> {
    const sessionId = newSessionId();
    // Applied to the state store once durable, from what is known here.
    await this.append(LOG_SESSION_STARTED, sessionId, bytes, {
      kind: "started",
      sessionId,
      start: event,
      startBytes: ownBytes(bytes),
      newEventId: true, // emitStart found no session of it, and pendingStarts holds back any other start of it
    });
    return { sessionId, status: "created" };
  }

  /**
   * A start on a shared log. The event_id is claimed in a create-only
   * key-value bucket (it lasts beyond JetStream's de-duplication window);
   * the log, applied in order, is the final arbiter: the first start of an
   * event_id in it stands on every replica (SessionTables.applyStart). A
   * claim whose start is not in the log once this replica has caught up
   * belongs to a replica that is still storing it or died before it did:
   * after a grace period it is stored here, under the same Nats-Msg-Id (so
   * within the window the stream keeps one copy) — never refused as a
   * duplicate of an event nobody stored.
   */
  private async storeSharedStart(
    shared: SharedSessionLog,
    checked: SessionStartEventJson,
    bytes: Uint8Array[],
  ): Promise<{ sessionId: string; status: EmitStatus }> {
    const eventId = checked.event_id;
    const mine = newSessionId();
    if (!(await shared.claim(eventId, mine))) {
      await shared.readIndex();
      const deadline = Date.now() + CLAIM_GRACE_MS;
      let stored = this.index.sessionOfEvent(eventId);
      while (!stored && Date.now() < deadline) {
        await shared.waitApplied(shared.applied + 1n, deadline - Date.now()).catch(() => {});
        stored = this.index.sessionOfEvent(eventId);
      }
      if (stored) return { sessionId: stored.sessionId, status: this.sameStart(stored, checked) };
    }
    this.refuseIfFailed();
    const { sequence } = await shared.appendStart(eventId, mine, this.entry(LOG_SESSION_STARTED, mine, bytes));
    await shared.waitApplied(sequence);
    const stored = this.index.sessionOfEvent(eventId);
    if (!stored)
      throw new CollectorError(
        "UNAVAILABLE",
        `event_id ${JSON.stringify(eventId)}: stored, but not applied here yet; retry`,
      );
    if (stored.sessionId === mine) return { sessionId: mine, status: "created" };
    return { sessionId: stored.sessionId, status: this.sameStart(stored, checked) };
  }

  async emitEnd(event: SessionEndEvent | undefined): Promise<{ sessionId: string; status: EndStatus }> {
    const checked = validate(() => this.bridges.SessionEndEvent.toJson(required(event)));
    const bytes = encodeMessageChunks(this.mappings.SessionEndEvent, event!);
    this.checkSize(byteLength(bytes));
    const sessionId = checked.session_id;
    let session = this.index.get(sessionId);
    if (!session && this.shared) {
      // Started on another replica, perhaps a moment ago: never NOT_FOUND for an acknowledged session.
      await this.shared.readIndex();
      session = this.index.get(sessionId);
    }
    if (!session) throw new CollectorError("NOT_FOUND", `session_id: no session ${JSON.stringify(sessionId)}`);
    if (session.end) return { sessionId, status: "duplicate" };
    if (compareTimestamps(event!.timestamp!, session.start.timestamp!) < 0) {
      throw new CollectorError(
        "FAILED_PRECONDITION",
        `timestamp: the end (${checked.timestamp}) is before the session's start (${this.storedBridges.SessionStartEvent.toJson(session.start).timestamp})`,
      );
    }
    const inFlight = this.pendingEnds.get(sessionId);
    if (inFlight) {
      await inFlight;
      return { sessionId, status: "duplicate" };
    }
    const shared = this.shared;
    const work = shared
      ? (async () => {
          this.refuseIfFailed();
          const { sequence, duplicate } = await shared.appendEnd(
            sessionId,
            this.entry(LOG_SESSION_ENDED, sessionId, bytes),
          );
          await shared.waitApplied(sequence);
          // Ended meanwhile on another replica (the stream kept its copy): the first end stands.
          return { sessionId, status: duplicate ? ("duplicate" as const) : ("ended" as const) };
        })()
      : (async () => {
          // Applied to the state store once durable, from what is known here.
          await this.append(LOG_SESSION_ENDED, sessionId, bytes, {
            kind: "ended",
            sessionId,
            endBytes: ownBytes(bytes),
          });
          return { sessionId, status: "ended" as const };
        })();
    this.pendingEnds.set(sessionId, work);
    try {
      return await work;
    } finally {
      this.pendingEnds.delete(sessionId);
    }
  }

  private checkSize(bytes: number): void {
    if (bytes <= this.maxEventBytes) return;
    const message = `is ${bytes} bytes; at most ${this.maxEventBytes}, so that a session (start and end) can be read back within the message limit`;
    throw new CollectorError("INVALID_ARGUMENT", `event: ${message}`, [{ path: "/event", rule: "max_size", message }]);
  }

  getSession(sessionId: string): SessionView {
    if (!sessionId)
      throw new CollectorError("INVALID_ARGUMENT", "session_id: is required", [
        { path: "/session_id", rule: "required", message: "is required" },
      ]);
    const record = this.index.get(sessionId);
    if (!record) throw new CollectorError("NOT_FOUND", `session_id: no session ${JSON.stringify(sessionId)}`);
    return view(record);
  }

  listSessions(
    filter: SessionFilter,
    pageSize: number,
    pageToken: string,
  ): { sessions: SessionView[]; nextPageToken: string } {
    if (!Number.isInteger(pageSize) || pageSize < 0 || pageSize > MAX_PAGE_SIZE) {
      throw new CollectorError(
        "INVALID_ARGUMENT",
        `page_size: must be between 0 and ${MAX_PAGE_SIZE} (0: the default, ${DEFAULT_PAGE_SIZE})`,
        [{ path: "/page_size", rule: "maximum", message: `must be between 0 and ${MAX_PAGE_SIZE}` }],
      );
    }
    const after = decodePageToken(pageToken);
    const { sessions, next } = this.index.list(filter, after, pageSize || DEFAULT_PAGE_SIZE);
    // A page must fit in one message: stop early when it would not (every
    // session fits alone, by the event size limit, so paging always advances).
    let bytes = ENVELOPE_BYTES;
    const page: SessionRecord[] = [];
    for (const record of sessions) {
      bytes += sessionBytes(record);
      if (bytes > this.maxMessageBytes && page.length > 0) {
        return { sessions: page.map(view), nextPageToken: encodePageToken(page.at(-1)!.sequence) };
      }
      page.push(record);
    }
    return { sessions: page.map(view), nextPageToken: next === undefined ? "" : encodePageToken(next) };
  }

  /** Append a session entry (entry()) to a log of one's own; resolves once durable and applied. */
  private async append(
    field: number,
    sessionId: string,
    event: Uint8Array[],
    prepared: PreparedSessionRecord,
  ): Promise<bigint> {
    this.refuseIfFailed();
    const payload = this.entry(field, sessionId, event);
    let sequence: bigint;
    try {
      sequence = await this.log.appendGroup((at) => {
        this.state.prepareSession(at, payload, prepared);
        return [payload];
      });
    } catch (e) {
      throw new CollectorError("UNAVAILABLE", `the event could not be stored: ${(e as Error).message}`);
    }
    const failed = this.state.failure as Error | undefined; // (it may have failed while the append waited)
    if (failed) {
      // Durable, but perhaps not applied: not answered as stored. A retry after the restart is
      // answered from the rebuilt state (the same session id: idempotent by event_id).
      throw new CollectorError(
        "UNAVAILABLE",
        `the event could not be stored completely: the state store has failed (${failed.message}); retry after the restart`,
      );
    }
    return sequence;
  }

  private refuseIfFailed(): void {
    if (this.state.failure) {
      // The log may still take records, but they would not be applied: refuse, as for a failed log, until a restart.
      throw new CollectorError(
        "UNAVAILABLE",
        `the event could not be stored: the state store has failed (${this.state.failure.message})`,
      );
    }
  }

  /**
   * A LogEntry holding a SessionStarted or SessionEnded (`field`) with the
   * event's bytes as already encoded (in pieces): the same bytes
   * LogEntry.encode would write, without encoding the event a second time.
   */
  private entry(field: number, sessionId: string, event: Uint8Array[]): Buffer {
    const eventLength = byteLength(event);
    const writer = new BinaryWriter();
    Timestamp.encode(timestampFromDate(new Date()), writer.uint32(10).fork()).join(); // received_at = 1
    const inner = new BinaryWriter();
    if (sessionId !== "") inner.uint32(10).string(sessionId); // session_id = 1
    const head = inner.uint32(18).uint32(eventLength).finish(); // event = 2: its tag and length
    writer.uint32((field << 3) | 2).uint32(head.length + eventLength); // the oneof member, its length
    // One copy of the event (possibly large) into the entry, rather than a writer growing around it.
    return Buffer.concat([writer.finish(), head, ...event]);
  }

  /** A retry must be the same event: same event_id with other content is refused. */
  private sameStart(known: SessionRecord, retried: SessionStartEventJson): EmitStatus {
    if (canonicalJson(this.storedBridges.SessionStartEvent.toJson(known.start)) !== canonicalJson(retried)) {
      throw new CollectorError(
        "ALREADY_EXISTS",
        `event_id: ${JSON.stringify(retried.event_id)} was already used by a different event (session ${known.sessionId})`,
      );
    }
    return "duplicate";
  }

  /** Close the log, then the state store (its last checkpoint covers every record). */
  async close(): Promise<void> {
    await this.log.close();
    await this.state.close();
  }
}

/** The accepted versions (default: the current one), oldest first: each one the contract's, the current one among them. */
export function checkAcceptedVersions(
  contract: ServedContract,
  accepted: readonly string[] = [contract.versions.current],
): string[] {
  const { versions } = contract;
  for (const v of accepted) versions.get(v); // UnknownVersionError names the known ones
  if (!accepted.includes(versions.current)) {
    throw new CollectorError(
      "INVALID_ARGUMENT",
      `accepted versions: must include the current version ${versions.current} (got ${accepted.join(", ")})`,
    );
  }
  return versions.versions.filter((v) => accepted.includes(v));
}

function required<T>(event: T | undefined): T {
  if (event === undefined || event === null) {
    throw new CollectorError("INVALID_ARGUMENT", "event: is required", [
      { path: "/event", rule: "required", message: "is required" },
    ]);
  }
  return event;
}

/** Run a bridge validation; its ValidationError becomes INVALID_ARGUMENT, field by field. */
function validate<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ValidationError) {
      const issues = e.issues.map((i) => ({ ...i, path: `/event${i.path}` }));
      throw new CollectorError("INVALID_ARGUMENT", e.message, issues);
    }
    throw e;
  }
}

/** Random, not derived from component and time: two shells in the same second must not collide (the original's flaw). */
const newSessionId = () => {
  const u = randomUUID(); // xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx: the 32 hex digits, without a regular expression's cost
  return `sess_${u.slice(0, 8)}${u.slice(9, 13)}${u.slice(14, 18)}${u.slice(19, 23)}${u.slice(24)}`;
};

/** How long a replica waits for the claimer of an event_id to store its start before storing it itself. */
const CLAIM_GRACE_MS = 2000;

const byteLength = (chunks: readonly Uint8Array[]) => chunks.reduce((n, c) => n + c.length, 0);

/** The chunks joined in a buffer of their own (not a slice of Node's shared pool, which the state would keep alive). */
function ownBytes(chunks: readonly Uint8Array[]): Uint8Array {
  const bytes = new Uint8Array(byteLength(chunks));
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

/** LogEntry's oneof members for sessions (proto/sessionevents/log/v1/log_entry.proto). */
const LOG_SESSION_STARTED = 2;
const LOG_SESSION_ENDED = 3;

/** Room kept for the response envelope and a session's own fields. */
const ENVELOPE_BYTES = 4096;

function sessionBytes(record: SessionRecord): number {
  return record.startBytes.length + (record.endBytes?.length ?? 0) + 128;
}

function view(record: SessionRecord): SessionView {
  return {
    sessionId: record.sessionId,
    status: record.end ? "ended" : "open",
    start: record.start,
    end: record.end,
    durationMs: record.end ? millisBetween(record.start.timestamp!, record.end.timestamp!) : 0n,
  };
}

const TOKEN_PREFIX = "v1:";

function encodePageToken(after: bigint): string {
  return Buffer.from(`${TOKEN_PREFIX}${after}`).toString("base64url");
}

function decodePageToken(token: string): bigint {
  if (token === "") return 0n;
  const text = Buffer.from(token, "base64url").toString();
  if (!text.startsWith(TOKEN_PREFIX) || !/^\d{1,20}$/.test(text.slice(TOKEN_PREFIX.length))) {
    throw new CollectorError("INVALID_ARGUMENT", "page_token: is not a token this server issued", [
      { path: "/page_token", rule: "page_token", message: "is not a token this server issued" },
    ]);
  }
  return BigInt(text.slice(TOKEN_PREFIX.length));
}
