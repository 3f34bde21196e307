/**
 * The collector's tables in the state store: sessions by id (with their start
 * and end events as the protobuf bytes the log holds, so GetSession answers
 * without reading the log, even after retention removed the segment), the
 * session of each start event_id (idempotency), and the listing indexes in
 * log order (all sessions, by component, open ones) with what the filters
 * need, so a ListSessions page reads a bounded number of entries.
 */
import { createHash } from "node:crypto";
import type { Timestamp } from "../../gen/google/protobuf/timestamp.js";
import { SessionEndEvent, SessionStartEvent } from "../../gen/oneiric/session/v1/session_events.js";
import type { StateStore } from "./state-store.js";

export interface SessionRecord {
  readonly sessionId: string;
  /** Log sequence of the start: the listing order. */
  readonly sequence: bigint;
  readonly start: SessionStartEvent;
  readonly end: SessionEndEvent | undefined;
  /** The events' protobuf bytes, as stored in the log. */
  readonly startBytes: Uint8Array;
  readonly endBytes: Uint8Array | undefined;
}

export interface SessionFilter {
  componentName?: string;
  status?: "open" | "ended";
  /** Inclusive. */
  startedAfter?: Timestamp;
  /** Exclusive. */
  startedBefore?: Timestamp;
}

/** sessions: id -> [sequence, start bytes, end bytes | null]. */
type StoredSession = [number, Uint8Array, Uint8Array | null];
/** listing, byComponent, open: what a filter needs, without reading the session. */
type Listed = [sessionId: string, component: string, seconds: number, nanos: number, ended: 0 | 1];

/** Most index entries one ListSessions page reads: past it, the page ends early with a token (AIP-158). */
export const SCAN_BUDGET = 2000;

const LAST = Number.MAX_SAFE_INTEGER;

/**
 * A component name as the byComponent index keys it. LMDB refuses keys over
 * 1,978 bytes and the contract bounds a name's characters, not its length: a
 * long name is keyed by its start and a hash ("~" is not a name's character,
 * so no short name takes the same key). Pages read the whole name from the
 * entry, so a key need only tell components apart.
 */
export function componentKey(name: string): string {
  return name.length <= 512 ? name : `${name.slice(0, 448)}~${createHash("sha256").update(name).digest("hex")}`;
}

export class SessionTables {
  constructor(private readonly store: StateStore) {}

  get size(): number {
    return this.store.get<number>("meta", "sessionCount") ?? 0;
  }

  /** Sessions started and not ended (a metric: kept as a count, not found by a scan). */
  get openCount(): number {
    return this.store.get<number>("meta", "openCount") ?? 0;
  }

  get(sessionId: string): SessionRecord | undefined {
    const stored = this.store.get<StoredSession>("sessions", sessionId);
    return stored && toRecord(sessionId, stored);
  }

  /** The session a start event_id created, if any. */
  sessionOfEvent(eventId: string): SessionRecord | undefined {
    const id = this.store.get<string>("events", eventId);
    return id === undefined ? undefined : this.get(id);
  }

  /**
   * `newEventId`: the writer already found no session of this event_id and
   * let no other start of it into the log before this one is applied, so
   * the lookup (an LMDB read: no session is not in the overlay) is skipped.
   */
  applyStart(
    sessionId: string,
    sequence: bigint,
    start: SessionStartEvent,
    startBytes: Uint8Array,
    newEventId = false,
  ): void {
    // The first start of an event_id in the log stands: on a shared log two replicas may both store one
    // (a claim taken over from a replica that died); every replica applies the same first one.
    if (!newEventId && this.store.get<string>("events", start.eventId) !== undefined) return;
    const seq = Number(sequence);
    this.store.put("sessions", sessionId, [seq, startBytes, null] satisfies StoredSession);
    this.store.put("events", start.eventId, sessionId);
    const listed: Listed = [
      sessionId,
      start.componentName,
      Number(start.timestamp!.seconds),
      start.timestamp!.nanos,
      0,
    ];
    this.store.put("listing", seq, listed);
    this.store.put("byComponent", [componentKey(start.componentName), seq], listed);
    this.store.put("open", seq, listed);
    this.store.put("meta", "sessionCount", this.size + 1);
    this.store.put("meta", "openCount", this.openCount + 1);
  }

  applyEnd(sessionId: string, endBytes: Uint8Array): void {
    const stored = this.store.get<StoredSession>("sessions", sessionId);
    if (!stored || stored[2] !== null) return; // the first end stands
    const seq = stored[0];
    this.store.put("sessions", sessionId, [seq, stored[1], endBytes] satisfies StoredSession);
    const listed = this.store.get<Listed>("listing", seq)!;
    const ended: Listed = [listed[0], listed[1], listed[2], listed[3], 1];
    this.store.put("listing", seq, ended);
    this.store.put("byComponent", [componentKey(listed[1]), seq], ended);
    this.store.remove("open", seq);
    this.store.put("meta", "openCount", Math.max(0, this.openCount - 1));
  }

  /**
   * Up to `limit` sessions after log position `after`, matching `filter`.
   * `next`: where the next page starts (undefined: nothing more). The page
   * reads at most `budget` index entries (the narrowest index the filter
   * allows), so it may hold fewer than `limit` sessions and still a `next`.
   */
  list(
    filter: SessionFilter,
    after: bigint,
    limit: number,
    budget = SCAN_BUDGET,
  ): { sessions: SessionRecord[]; next: bigint | undefined } {
    const from = Number(after) + 1;
    const entries: Iterable<{ key: unknown; value: Listed }> =
      filter.componentName !== undefined
        ? this.store.range<Listed>("byComponent", {
            start: [componentKey(filter.componentName), from],
            end: [componentKey(filter.componentName), LAST],
          })
        : this.store.range<Listed>(filter.status === "open" ? "open" : "listing", { start: from });
    const sessions: SessionRecord[] = [];
    let scanned = 0;
    let lastSeen: number | undefined;
    for (const { key, value } of entries) {
      const seq = typeof key === "number" ? key : (key as [string, number])[1];
      if (scanned === budget) return { sessions, next: BigInt(lastSeen!) };
      scanned++;
      if (matches(value, filter)) {
        if (sessions.length === limit) return { sessions, next: sessions.at(-1)!.sequence };
        sessions.push(this.get(value[0])!);
      }
      lastSeen = seq;
    }
    return { sessions, next: undefined };
  }
}

function toRecord(sessionId: string, [seq, startBytes, endBytes]: StoredSession): SessionRecord {
  return {
    sessionId,
    sequence: BigInt(seq),
    start: SessionStartEvent.decode(startBytes),
    end: endBytes === null ? undefined : SessionEndEvent.decode(endBytes),
    startBytes,
    endBytes: endBytes ?? undefined,
  };
}

function matches([, component, seconds, nanos, ended]: Listed, filter: SessionFilter): boolean {
  if (filter.componentName !== undefined && component !== filter.componentName) return false;
  if (filter.status === "open" && ended) return false;
  if (filter.status === "ended" && !ended) return false;
  if (filter.startedAfter && compare(seconds, nanos, filter.startedAfter) < 0) return false;
  if (filter.startedBefore && compare(seconds, nanos, filter.startedBefore) >= 0) return false;
  return true;
}

function compare(seconds: number, nanos: number, t: Timestamp): number {
  const s = Number(t.seconds);
  return seconds !== s ? seconds - s : nanos - t.nanos;
}

export function compareTimestamps(a: Timestamp, b: Timestamp): number {
  if (a.seconds !== b.seconds) return a.seconds < b.seconds ? -1 : 1;
  return a.nanos - b.nanos;
}

/** Milliseconds from `a` to `b`, rounded down. */
export function millisBetween(a: Timestamp, b: Timestamp): bigint {
  const nanos = (BigInt(b.seconds) - BigInt(a.seconds)) * 1_000_000_000n + BigInt(b.nanos - a.nanos);
  return nanos / 1_000_000n;
}
