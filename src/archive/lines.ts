/**
 * One ArchiveEvent <-> one line of JSON Lines, in either of two layouts:
 *
 *   events   the contract JSON itself, exactly what the exported schemas describe:
 *            {"event_version":"1.0","event_id":"…",…}
 *   records  the log entry around it, so nothing the log knew is lost:
 *            {"log_sequence":7,"received_at":"…","entry":"session_started","session_id":"sess_…","event":{…}}
 *
 * Reading accepts both, line by line (a records line is the only kind with an
 * "entry" key). Every line is validated: the wrapper by ARCHIVE_RECORD_SCHEMA,
 * the event by its contract.
 */
import { ValidationError } from "../contract/errors.js";
import { isPlainObject } from "../contract/shape.js";
import { compileContract } from "../contract/validate.js";
import { ENTRY_KINDS, LOG_ENTRY_KINDS, RecordError, WRAPPER_FIELDS } from "./codec.js";
import { convertJson } from "./message-cache.js";
import {
  EVENT_TYPES,
  recogniseEventType,
  type ArchiveEvent,
  type LogEntryKind,
  type LogFields,
  type RecordPosition,
} from "./event.js";

/** One of LINE_LAYOUTS. */
export type LineLayout = "events" | "records";
/** How JSON Lines are laid out: bare events, or records with the log's fields. */
export const LINE_LAYOUTS: readonly LineLayout[] = ["events", "records"];

const counter = { type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;

/** JSON Schema 2020-12 of a records line (the event inside is judged by its own contract). */
export const ARCHIVE_RECORD_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  title: "ArchiveRecord",
  description: "One collector log entry in a JSON Lines archive: the log's fields and the contract event.",
  type: "object",
  properties: {
    log_sequence: { ...counter, minimum: 1, description: "The entry's sequence in the collector's log." },
    received_at: { type: "string", format: "date-time", description: "When the collector accepted the event (UTC)." },
    entry: { enum: LOG_ENTRY_KINDS, description: "Which kind of log entry: the event's type and how it arrived." },
    session_id: { type: "string", description: "session_started: the id assigned; session_ended: the session closed." },
    producer_id: { type: "string", description: "vrp_received: the producer's identity." },
    producer_sequence: { ...counter, description: "vrp_received: the producer's own sequence number of the event." },
    cause_sequence: { ...counter, description: "vrp_derived: log sequence of the event that caused it." },
    event: {
      type: "object",
      additionalProperties: true,
      description: "The contract event (SessionStartEvent, SessionEndEvent or VrpEvent JSON).",
    },
  },
  required: ["entry", "event"],
  additionalProperties: false,
} as const;

const recordContract = compileContract<Record<string, unknown>>({
  name: "ArchiveRecord",
  schema: ARCHIVE_RECORD_SCHEMA,
});

export function formatLine(event: ArchiveEvent, layout: LineLayout): string {
  if (layout === "events" || !event.log) return JSON.stringify(event.json);
  const log = event.log;
  const line: Record<string, unknown> = {};
  if (log.sequence !== undefined) line.log_sequence = Number(log.sequence); // exact: checked on decoding
  if (log.receivedAt !== undefined) line.received_at = log.receivedAt;
  line.entry = log.kind;
  for (const field of ENTRY_KINDS[log.kind].fields) {
    const value = log[field.proto];
    if (value !== undefined) line[field.json] = typeof value === "bigint" ? Number(value) : value;
  }
  line.event = event.json;
  return JSON.stringify(line);
}

/** Parse and validate one line. Throws RecordError (rule "json" is reported by the caller). */
export function parseLine(text: string, position: RecordPosition): ArchiveEvent {
  return parsedLine(JSON.parse(text), position);
}

/** Validate one line's JSON, already parsed. Throws RecordError. */
export function parsedLine(value: unknown, position: RecordPosition): ArchiveEvent {
  if (!isPlainObject(value)) throw new RecordError("contract", "a line must hold a JSON object (one event)");
  if (Object.hasOwn(value, "entry")) return parseRecordLine(value, position);
  const type = recogniseEventType(value);
  if (!type) {
    throw new RecordError(
      "unknown_record",
      "not a contract event: it has none of ts_ms (VrpEvent), event_id (SessionStartEvent) or session_id (SessionEndEvent)",
    );
  }
  return { type, family: EVENT_TYPES[type].family, json: validEvent(type, value), position };
}

function parseRecordLine(value: Record<string, unknown>, position: RecordPosition): ArchiveEvent {
  const issues = recordContract.issues(value);
  if (issues.length > 0) throw new RecordError("contract", "not a valid ArchiveRecord", issues);
  const kind = value.entry as LogEntryKind;
  const info = ENTRY_KINDS[kind];
  const allowed = new Set(info.fields.map((f) => f.json));
  const stray = WRAPPER_FIELDS.filter((k) => Object.hasOwn(value, k) && !allowed.has(k));
  if (stray.length > 0) {
    throw new RecordError(
      "contract",
      "not a valid ArchiveRecord",
      stray.map((k) => ({ path: `/${k}`, rule: "unknown_property", message: `is not a field of a ${kind} entry` })),
    );
  }
  const log: Record<string, unknown> = { kind };
  if (value.log_sequence !== undefined) log.sequence = BigInt(value.log_sequence as number);
  if (value.received_at !== undefined) log.receivedAt = value.received_at;
  for (const field of info.fields) {
    const v = value[field.json];
    if (v !== undefined) log[field.proto] = field.kind === "uint64" ? BigInt(v as number) : v;
  }
  const json = validEvent(info.type, value.event, "/event");
  return { type: info.type, family: EVENT_TYPES[info.type].family, json, log: log as unknown as LogFields, position };
}

function validEvent(type: ArchiveEvent["type"], value: unknown, prefix = ""): ArchiveEvent["json"] {
  try {
    // The bridge's conversion is the full contract check (schema, version,
    // shape, and what protobuf can carry), the same as on the gRPC boundary.
    convertJson(type, value as object);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    throw new RecordError(
      "contract",
      `not a valid ${type}`,
      e.issues.map((i) => ({ ...i, path: prefix + i.path })),
    );
  }
  return value as ArchiveEvent["json"];
}
