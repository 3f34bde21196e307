/**
 * One protobuf record <-> one ArchiveEvent.
 *
 * A record is either a collector LogEntry (the log's payload, which says what
 * kind of event it holds) or a bare event message of one type chosen by the
 * caller (a file of length-delimited SessionStartEvents, say). Decoding is as
 * strict as at the gRPC boundary (bridge/decode.ts): bad UTF-8 and smuggled
 * `__proto__` keys are refused, and the event must pass its contract.
 */
import { ValidationError } from "../contract/errors.js";
import { SessionEventsError, type ValidationIssue } from "../errors.js";
import { formatTimestamp, parseTimestamp } from "../contract/timestamp.js";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { decodeChecked } from "../bridge/decode.js";
import { encodeMessage, encodeMessageBytes } from "../bridge/codec.js";
import { Timestamp } from "../../gen/google/protobuf/timestamp.js";
import type { FieldKind, MessageMapping } from "../bridge/mapping.js";
import { LogEntry } from "../../gen/sessionevents/log/v1/log_entry.js";
import { messageOf } from "./message-cache.js";
import {
  EVENT_TYPES,
  type ArchiveEvent,
  type ArchiveEventType,
  type LogEntryKind,
  type LogFields,
  type RecordPosition,
} from "./event.js";

/** The message a binary record holds: a LogEntry, or one bare event type. */
export type RecordMessage = "LogEntry" | ArchiveEventType;
/** The messages a binary record may hold. */
export const RECORD_MESSAGES: readonly RecordMessage[] = [
  "LogEntry",
  "SessionStartEvent",
  "SessionEndEvent",
  "VrpEvent",
];

/** A record's bytes could not become an event: the damage rule and what is wrong. */
export class RecordError extends SessionEventsError {
  override readonly name = "RecordError";
  constructor(
    /** The damage rule: the bytes are no protobuf, no event this contract knows, or an event that breaks the contract. */
    readonly rule: "protobuf" | "unknown_record" | "contract",
    message: string,
    issues?: readonly ValidationIssue[],
  ) {
    super(message, { code: rule === "contract" ? "INVALID_ARGUMENT" : "DATA_LOSS", issues });
  }
}

/** A wrapper field of a log entry, beside its event. */
interface WrapperField {
  readonly json: "session_id" | "producer_id" | "producer_sequence" | "cause_sequence";
  /** The ts-proto property, which is also its name in LogFields. */
  readonly proto: "sessionId" | "producerId" | "producerSequence" | "causeSequence";
  readonly kind: "string" | "uint64";
  /** Field number in the wrapper message (checked against the descriptors in the tests). */
  readonly number: number;
}

interface EntryKindInfo {
  /** The ts-proto oneof case. */
  readonly case: "sessionStarted" | "sessionEnded" | "vrpReceived" | "vrpDerived";
  readonly type: ArchiveEventType;
  /** Field number of the oneof member in LogEntry, and of the event inside it. */
  readonly number: number;
  readonly eventNumber: number;
  readonly fields: readonly WrapperField[];
}

const SESSION_ID: WrapperField = { json: "session_id", proto: "sessionId", kind: "string", number: 1 };

/** LogEntry's oneof, as data (mirrors proto/sessionevents/log/v1/log_entry.proto). */
export const ENTRY_KINDS: Readonly<Record<LogEntryKind, EntryKindInfo>> = {
  session_started: {
    case: "sessionStarted",
    type: "SessionStartEvent",
    number: 2,
    eventNumber: 2,
    fields: [SESSION_ID],
  },
  session_ended: { case: "sessionEnded", type: "SessionEndEvent", number: 3, eventNumber: 2, fields: [SESSION_ID] },
  vrp_received: {
    case: "vrpReceived",
    type: "VrpEvent",
    number: 4,
    eventNumber: 1,
    fields: [
      { json: "producer_id", proto: "producerId", kind: "string", number: 2 },
      { json: "producer_sequence", proto: "producerSequence", kind: "uint64", number: 3 },
    ],
  },
  vrp_derived: {
    case: "vrpDerived",
    type: "VrpEvent",
    number: 5,
    eventNumber: 1,
    fields: [{ json: "cause_sequence", proto: "causeSequence", kind: "uint64", number: 2 }],
  },
};
export const LOG_ENTRY_KINDS = Object.keys(ENTRY_KINDS) as LogEntryKind[];
/** Every wrapper field of any entry kind, by its JSON name. */
export const WRAPPER_FIELDS: readonly WrapperField["json"][] = [
  ...new Set(LOG_ENTRY_KINDS.flatMap((k) => ENTRY_KINDS[k].fields.map((f) => f.json))),
];

const KIND_OF_CASE = new Map(LOG_ENTRY_KINDS.map((k) => [ENTRY_KINDS[k].case, k]));

const message = (json: string, number: number, inner: MessageMapping) => ({
  json,
  proto: json,
  number,
  kind: "message" as FieldKind,
  message: inner,
});

/** LogEntry's shape for the `__proto__` scan of decodeChecked: the path to each event's Structs. */
const logEntryScanMapping: MessageMapping = {
  name: "LogEntry",
  protoName: "sessionevents.log.v1.LogEntry",
  fields: LOG_ENTRY_KINDS.map((kind) => {
    const info = ENTRY_KINDS[kind];
    const wrapper: MessageMapping = {
      name: kind,
      protoName: kind,
      fields: [message("event", info.eventNumber, EVENT_TYPES[info.type].mapping)],
    };
    return message(kind, info.number, wrapper);
  }),
};

/** Bytes -> event; undefined for a log record that holds no event (the VRP policy in force). Throws RecordError. */
export function decodeRecord(bytes: Uint8Array, as: RecordMessage, position: RecordPosition): ArchiveEvent | undefined {
  return as === "LogEntry"
    ? decodeLogEntry(bytes, position)
    : bareEvent(as, () => EVENT_TYPES[as].bridge.fromBinary(bytes), position);
}

/** Event -> bytes of the chosen message. Throws ValidationError (the event breaks its contract). */
export function encodeRecord(event: ArchiveEvent, as: RecordMessage): Uint8Array {
  if (as === "LogEntry") return encodeLogEntry(event);
  if (event.type !== as) {
    throw new ValidationError(event.type, [
      { path: "", rule: "type", message: `is a ${event.type}, but this output holds ${as} messages` },
    ]);
  }
  return encodeMessageBytes(EVENT_TYPES[as].mapping, messageOf(as, event.json) as object);
}

function bareEvent(type: ArchiveEventType, convert: () => unknown, position: RecordPosition): ArchiveEvent {
  const json = asContract(convert);
  return { type, family: EVENT_TYPES[type].family, json: json as ArchiveEvent["json"], position };
}

function asContract(convert: () => unknown): unknown {
  try {
    return convert();
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    const malformed = e.issues.find((i) => i.rule === "protobuf");
    if (malformed) throw new RecordError("protobuf", malformed.message);
    throw new RecordError("contract", `not a valid ${e.subject}`, e.issues);
  }
}

function decodeLogEntry(bytes: Uint8Array, position: RecordPosition): ArchiveEvent | undefined {
  const entry = asContract(() => decodeChecked(logEntryScanMapping, LogEntry, bytes)) as LogEntry;
  const oneof = entry.entry;
  if (!oneof)
    throw new RecordError(
      "unknown_record",
      "a LogEntry that holds no event this contract knows (a newer entry kind, or not a LogEntry)",
    );
  if (oneof.$case === "vrpPolicyChanged") return undefined; // the collector's own configuration, not an event
  const kind = KIND_OF_CASE.get(oneof.$case)!;
  const info = ENTRY_KINDS[kind];
  const wrapper = oneof.value as unknown as Record<string, unknown>;
  if (!wrapper.event) throw new RecordError("unknown_record", `a ${kind} entry without its event`);
  const { bridge, family } = EVENT_TYPES[info.type];
  const json = asContract(() => bridge.toJson(wrapper.event));
  let receivedAt: string | undefined;
  if (entry.receivedAt) {
    try {
      receivedAt = formatTimestamp(entry.receivedAt);
    } catch (e) {
      throw new RecordError("contract", "received_at is not a valid Timestamp", [
        { path: "/received_at", rule: "timestamp_range", message: (e as Error).message },
      ]);
    }
  }
  const log: Record<string, unknown> = { kind };
  if (position.sequence !== undefined) log.sequence = exactCounter(position.sequence, "log_sequence");
  if (receivedAt !== undefined) log.receivedAt = receivedAt;
  for (const field of info.fields) {
    const value = wrapper[field.proto];
    if (value !== "" && value !== 0n)
      log[field.proto] = field.kind === "uint64" ? exactCounter(value as bigint, field.json) : value;
  }
  return { type: info.type, family, json: json as ArchiveEvent["json"], log: log as unknown as LogFields, position };
}

/** Log counters must fit a JSON number exactly, so that a records line can carry them. */
function exactCounter(value: bigint, field: string): bigint {
  if (value <= MAX_EXACT) return value;
  throw new RecordError("contract", `${field} ${value} is beyond what JSON carries exactly`, [
    { path: `/${field}`, rule: "maximum", message: `must be at most ${MAX_EXACT}` },
  ]);
}
const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

function encodeLogEntry(event: ArchiveEvent): Uint8Array {
  const kind = event.log?.kind ?? EVENT_TYPES[event.type].entryKind;
  const info = ENTRY_KINDS[kind];
  if (info.type !== event.type) {
    throw new ValidationError(event.type, [
      { path: "", rule: "type", message: `a ${kind} entry holds a ${info.type}, not a ${event.type}` },
    ]);
  }
  const value: Record<string, unknown> = { event: messageOf(event.type, event.json) };
  for (const field of info.fields) value[field.proto] = event.log?.[field.proto] ?? (field.kind === "string" ? "" : 0n);
  // What the collector stores for an end: the session it closed, which is the event's own.
  if (!event.log && kind === "session_ended") value.sessionId = (event.json as { session_id: string }).session_id;
  const receivedAt = event.log?.receivedAt === undefined ? undefined : parseTimestamp(event.log.receivedAt);
  return writeLogEntry(info, receivedAt, value);
}

/**
 * The bytes ts-proto's LogEntry.encode writes for this entry, written with
 * the contract codec (bridge/codec.ts: the same bytes as the generated
 * encoder, without wrapping every Struct value first): fields in number
 * order, defaults left out, the event as its own length-delimited field.
 */
function writeLogEntry(
  info: EntryKindInfo,
  receivedAt: Timestamp | undefined,
  value: Record<string, unknown>,
): Uint8Array {
  try {
    return writeLogEntryWith(logEntryWriter, info, receivedAt, value);
  } catch (e) {
    logEntryWriter.finish(); // reset: a half-written entry must not lead the next one
    throw e;
  }
}
/** One writer, reused: encoding is synchronous, and its buffer stays grown. */
const logEntryWriter = new BinaryWriter();

function writeLogEntryWith(
  writer: BinaryWriter,
  info: EntryKindInfo,
  receivedAt: Timestamp | undefined,
  value: Record<string, unknown>,
): Uint8Array {
  if (receivedAt !== undefined) Timestamp.encode(receivedAt, writer.uint32((1 << 3) | 2).fork()).join();
  writer.uint32((info.number << 3) | 2).fork();
  for (const field of wrapperOrder(info)) {
    if (field === "event") {
      if (value.event !== undefined)
        encodeMessage(
          EVENT_TYPES[info.type].mapping,
          value.event as object,
          writer.uint32((info.eventNumber << 3) | 2).fork(),
        ).join();
    } else if (field.kind === "string") {
      if (value[field.proto] !== "") writer.uint32((field.number << 3) | 2).string(value[field.proto] as string);
    } else {
      const n = value[field.proto] as bigint;
      if (n === 0n) continue;
      if (BigInt.asUintN(64, n) !== n)
        throw new Error(`value provided for field message.${field.proto} of type uint64 too large`);
      writer.uint32(field.number << 3).uint64(n);
    }
  }
  return writer.join().finish();
}

const wrapperOrders = new Map<EntryKindInfo, readonly (WrapperField | "event")[]>();
function wrapperOrder(info: EntryKindInfo): readonly (WrapperField | "event")[] {
  let order = wrapperOrders.get(info);
  if (!order) {
    order = [...info.fields, "event" as const].sort(
      (a, b) => (a === "event" ? info.eventNumber : a.number) - (b === "event" ? info.eventNumber : b.number),
    );
    wrapperOrders.set(info, order);
  }
  return order;
}

/** The reference encoder (ts-proto's LogEntry.encode), kept as the oracle of writeLogEntry's tests. */
export function encodeLogEntryWithGeneratedCode(event: ArchiveEvent): Uint8Array {
  const kind = event.log?.kind ?? EVENT_TYPES[event.type].entryKind;
  const info = ENTRY_KINDS[kind];
  const value: Record<string, unknown> = { event: messageOf(event.type, event.json) };
  for (const field of info.fields) value[field.proto] = event.log?.[field.proto] ?? (field.kind === "string" ? "" : 0n);
  if (!event.log && kind === "session_ended") value.sessionId = (event.json as { session_id: string }).session_id;
  const receivedAt = event.log?.receivedAt === undefined ? undefined : parseTimestamp(event.log.receivedAt);
  return LogEntry.encode({ receivedAt, entry: { $case: info.case, value } as unknown as LogEntry["entry"] }).finish();
}
