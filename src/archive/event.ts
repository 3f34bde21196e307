/**
 * What an archive holds: contract events, each with where it was read and,
 * when it came from the collector's log, what the log recorded beside it.
 *
 * The three event types are a table (EVENT_TYPES): family, bridge, field
 * table, message type, the event's own time; and how a JSON line of unknown
 * type is recognised.
 */
import { bridges, type Bridge } from "../bridge/index.js";
import {
  sessionEndEventMapping,
  sessionStartEventMapping,
  vrpEventMapping,
  type MessageMapping,
} from "../bridge/mapping.js";
import { SessionEndEvent, SessionStartEvent } from "../../gen/oneiric/session/v1/session_events.js";
import { VrpEvent } from "../../gen/vrp/v1alpha1/vrp_event.js";
import { parseTimestamp } from "../contract/timestamp.js";
import type { SessionEndEventJson, SessionStartEventJson, VrpEventJson } from "../contract/types.js";

/** The contract event types an archive holds. */
export type ArchiveEventType = "SessionStartEvent" | "SessionEndEvent" | "VrpEvent";
/** Session events or VRP events. */
export type ArchiveFamily = "session" | "vrp";
export type ArchiveEventJson = SessionStartEventJson | SessionEndEventJson | VrpEventJson;

/** The LogEntry case an event was stored as (its proto field name). */
export type LogEntryKind = "session_started" | "session_ended" | "vrp_received" | "vrp_derived";

/** What the collector's log keeps beside an event (see proto/sessionevents/log/v1). */
export interface LogFields {
  readonly kind: LogEntryKind;
  /** The record's log sequence (absent for a record read from a file without one). */
  readonly sequence?: bigint;
  /** When the collector accepted the event, RFC 3339 UTC. */
  readonly receivedAt?: string;
  /** session_started: the id the collector assigned; session_ended: the session closed. */
  readonly sessionId?: string;
  /** vrp_received: the producer's identity and its own sequence of the event. */
  readonly producerId?: string;
  readonly producerSequence?: bigint;
  /** vrp_derived: log sequence of the event that caused it. */
  readonly causeSequence?: bigint;
}

/** Where a record was read: enough for a person to find it again. */
export interface RecordPosition {
  /** The file (or "-" for standard input). */
  readonly source: string;
  /** Record number within the source, from 1. */
  readonly index: number;
  /** The damage is no record of its own (a gap in sequences, a cut gzip stream): it lies after record `index` (0: before the first). */
  readonly after?: boolean;
  /** Byte offset of the record in the (uncompressed) source, for binary input. */
  readonly offset?: number;
  /** Line number, for JSON Lines input. */
  readonly line?: number;
  /** The record's log sequence, when the framing carries one. */
  readonly sequence?: bigint;
}

/** One event read from an archive: its type, its contract JSON, where it was, and the log's fields around it. */
export interface ArchiveEvent {
  readonly type: ArchiveEventType;
  readonly family: ArchiveFamily;
  /** The contract JSON, validated against the type's exported JSON Schema. */
  readonly json: ArchiveEventJson;
  /** Present when the event came from (or goes to) a collector log entry. */
  readonly log?: LogFields;
  readonly position: RecordPosition;
}

/** An instant as comparable numbers (exact: |seconds| < 2^39). */
export interface EventTime {
  readonly seconds: number;
  readonly nanos: number;
}

interface EventTypeInfo {
  readonly family: ArchiveFamily;
  readonly bridge: Bridge<unknown, unknown>;
  /** The field table (for the `__proto__` scan of a LogEntry) and the generated message type (to encode). */
  readonly mapping: MessageMapping;
  readonly message: { encode(message: never): { finish(): Uint8Array } };
  /** The log entry kind the collector stores this type as, when it came without one. */
  readonly entryKind: LogEntryKind;
  /** The event's own time (not when it was received). */
  readonly time: (json: ArchiveEventJson) => EventTime;
  /** The value a `--type` filter may also name (event_type), beside the type name. */
  readonly subtype: (json: ArchiveEventJson) => string | undefined;
}

const sessionTime = (json: ArchiveEventJson): EventTime => {
  const ts = parseTimestamp((json as SessionStartEventJson).timestamp);
  return { seconds: Number(ts.seconds), nanos: ts.nanos };
};

export const EVENT_TYPES: Readonly<Record<ArchiveEventType, EventTypeInfo>> = {
  SessionStartEvent: {
    family: "session",
    bridge: bridges.SessionStartEvent as Bridge<unknown, unknown>,
    mapping: sessionStartEventMapping,
    message: SessionStartEvent,
    entryKind: "session_started",
    time: sessionTime,
    subtype: () => "session_start",
  },
  SessionEndEvent: {
    family: "session",
    bridge: bridges.SessionEndEvent as Bridge<unknown, unknown>,
    mapping: sessionEndEventMapping,
    message: SessionEndEvent,
    entryKind: "session_ended",
    time: sessionTime,
    subtype: () => "session_end",
  },
  VrpEvent: {
    family: "vrp",
    bridge: bridges.VrpEvent as Bridge<unknown, unknown>,
    mapping: vrpEventMapping,
    message: VrpEvent,
    entryKind: "vrp_received",
    time: (json) => {
      const ms = (json as VrpEventJson).ts_ms;
      const seconds = Math.floor(ms / 1000);
      return { seconds, nanos: (ms - seconds * 1000) * 1_000_000 };
    },
    subtype: (json) => (json as VrpEventJson).event_type,
  },
};

export const ARCHIVE_EVENT_TYPES = Object.keys(EVENT_TYPES) as ArchiveEventType[];
export const ARCHIVE_FAMILIES: readonly ArchiveFamily[] = ["session", "vrp"];

export function compareTimes(a: EventTime, b: EventTime): number {
  return a.seconds - b.seconds || a.nanos - b.nanos;
}

/**
 * Which contract a bare JSON event is, from the keys only its type has, in
 * this order: a VRP envelope is the only type with `ts_ms` (the session
 * schemas are closed, and an open VRP event_type may even read
 * "session_start"); then the session events' own `event_type` constants, then
 * their distinguishing required keys. The chosen type's schema then judges
 * the whole event.
 */
const RECOGNISERS: ReadonlyArray<readonly [ArchiveEventType, (o: Record<string, unknown>) => boolean]> = [
  ["VrpEvent", (o) => Object.hasOwn(o, "ts_ms")],
  ["SessionStartEvent", (o) => o.event_type === "session_start" || Object.hasOwn(o, "event_id")],
  ["SessionEndEvent", (o) => o.event_type === "session_end" || Object.hasOwn(o, "session_id")],
];

export function recogniseEventType(json: Record<string, unknown>): ArchiveEventType | undefined {
  return RECOGNISERS.find(([, test]) => test(json))?.[0];
}
