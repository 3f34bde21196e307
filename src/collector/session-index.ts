/**
 * What the collector knows about sessions, in memory, rebuilt from the log on
 * start: sessions by id, the session of each start event_id (idempotency), and
 * the log order for listing.
 */
import type { SessionEndEvent, SessionStartEvent } from "../../gen/oneiric/session/v1/session_events.js";
import type { Timestamp } from "../../gen/google/protobuf/timestamp.js";

export interface SessionRecord {
  readonly sessionId: string;
  /** Log sequence of the start: the listing order. */
  readonly sequence: bigint;
  readonly start: SessionStartEvent;
  end: SessionEndEvent | undefined;
}

export interface SessionFilter {
  componentName?: string;
  status?: "open" | "ended";
  /** Inclusive. */
  startedAfter?: Timestamp;
  /** Exclusive. */
  startedBefore?: Timestamp;
}

export class SessionIndex {
  private readonly byId = new Map<string, SessionRecord>();
  private readonly byEventId = new Map<string, string>();
  /** In log order (ascending sequence). */
  private readonly ordered: SessionRecord[] = [];
  private ended = 0;

  get size(): number {
    return this.ordered.length;
  }

  /** Sessions started and not ended (a metric: kept as a count, not found by a scan). */
  get openCount(): number {
    return this.ordered.length - this.ended;
  }

  get(sessionId: string): SessionRecord | undefined {
    return this.byId.get(sessionId);
  }

  sessionOfEvent(eventId: string): SessionRecord | undefined {
    const id = this.byEventId.get(eventId);
    return id === undefined ? undefined : this.byId.get(id);
  }

  addStart(sessionId: string, sequence: bigint, start: SessionStartEvent): SessionRecord {
    const record: SessionRecord = { sessionId, sequence, start, end: undefined };
    this.byId.set(sessionId, record);
    this.byEventId.set(start.eventId, sessionId);
    this.ordered.push(record);
    return record;
  }

  setEnd(sessionId: string, end: SessionEndEvent): void {
    const record = this.byId.get(sessionId);
    if (record && !record.end) {
      record.end = end;
      this.ended++;
    }
  }

  /** Up to `limit` sessions after log position `after`, matching `filter`; `next` is where to go on. */
  list(filter: SessionFilter, after: bigint, limit: number): { sessions: SessionRecord[]; next: bigint | undefined } {
    const sessions: SessionRecord[] = [];
    for (let i = firstAfter(this.ordered, after); i < this.ordered.length; i++) {
      const record = this.ordered[i]!;
      if (!matches(record, filter)) continue;
      if (sessions.length === limit) return { sessions, next: sessions.at(-1)!.sequence };
      sessions.push(record);
    }
    return { sessions, next: undefined };
  }
}

/** Index of the first record with sequence > after (binary search: the list is ascending). */
function firstAfter(ordered: readonly SessionRecord[], after: bigint): number {
  let lo = 0;
  let hi = ordered.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ordered[mid]!.sequence <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function matches(record: SessionRecord, filter: SessionFilter): boolean {
  if (filter.componentName !== undefined && record.start.componentName !== filter.componentName) return false;
  if (filter.status === "open" && record.end) return false;
  if (filter.status === "ended" && !record.end) return false;
  const started = record.start.timestamp!;
  if (filter.startedAfter && compareTimestamps(started, filter.startedAfter) < 0) return false;
  if (filter.startedBefore && compareTimestamps(started, filter.startedBefore) >= 0) return false;
  return true;
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
