/**
 * Export's fast path: a LogEntry's protobuf bytes straight to its JSON Lines
 * line, in one pass, with no message object, no contract JSON object and no
 * JSON.stringify of either.
 *
 * It writes exactly what the reference path (codec.ts decodeRecord, then
 * lines.ts formatLine) writes, and holds every value to the rules the
 * reference path's validation holds it to:
 *
 * - the tables that drive it are the reference path's own: the field
 *   mappings (bridge/mapping.ts), the contracts' JSON Schemas and version
 *   policies (contract/contracts.ts), the string formats validation uses
 *   (CONTRACT_FORMATS), and LogEntry's oneof (codec.ts ENTRY_KINDS);
 * - each scalar is checked against its property's schema keywords; a schema
 *   keyword this file does not know makes the type take the reference path
 *   always, so a schema change can never make it check less;
 * - strings must be valid UTF-8 (then they are well-formed Unicode);
 *   timestamps must format (then they are in range); free-form values must
 *   be finite, at most MAX_FREE_FORM_DEPTH deep, with no forbidden key.
 *
 * Anything it does not handle the way the reference path would with
 * certainty is left to the reference path, which then writes the line or
 * reports the damage: unknown or repeated fields, wrong wire types, a record
 * that breaks a rule, integer-like or repeated Struct keys (JavaScript
 * objects reorder or merge them), a Value with no kind, a VRP policy entry,
 * a sequence past 2^53. Lines come out as JS strings; quoting a string
 * without escapes is done here, anything else with JSON.stringify (so
 * escapes are JSON.stringify's by construction).
 */
import { isUtf8 } from "node:buffer";
import { contracts } from "../contract/contracts.js";
import { FORBIDDEN_KEYS, MAX_FREE_FORM_DEPTH } from "../contract/shape.js";
import { formatTimestamp } from "../contract/timestamp.js";
import { CONTRACT_FORMATS, type JsonSchema } from "../contract/validate.js";
import type { FieldMapping, MessageMapping } from "../bridge/mapping.js";
import { ENTRY_KINDS, LOG_ENTRY_KINDS } from "./codec.js";
import { EVENT_TYPES, type ArchiveEventType, type LogEntryKind } from "./event.js";
import type { LineLayout } from "./lines.js";
import type { RecordFastPath } from "./read.js";
import type { SummaryBuilder } from "./summary.js";

/** Thrown inside the transcoder: this record takes the reference path. */
const REFERENCE = Symbol("take the reference path");

const WIRE_VARINT = 0;
const WIRE_BIT64 = 1;
const WIRE_LEN = 2;
const MAX_EXACT = Number.MAX_SAFE_INTEGER;
const MAX_EXACT_SEQUENCE = BigInt(MAX_EXACT);

// ---------------------------------------------------------------------------
// Plans: what each field is, how it is checked, how it is written

type Check = (value: never) => boolean;

interface FieldPlan {
  readonly field: FieldMapping;
  readonly index: number;
  /** `"name":` */
  readonly key: string;
  readonly checks: readonly Check[];
  readonly required: boolean;
  readonly message?: MessagePlan;
}

interface MessagePlan {
  /** Field plans by wire tag (only the wire type the reference decoder reads). */
  readonly byTag: ReadonlyMap<number, FieldPlan>;
  /** In the order the reference JSON has them (the mapping's). */
  readonly fields: readonly FieldPlan[];
}

const ANNOTATIONS = new Set(["description", "examples", "default", "title", "$comment", "$schema", "event_version", "schema_version", "$defs"]);
const SCHEMA_TYPE: Readonly<Record<string, string>> = { string: "string", int32: "integer", int64: "integer", timestamp: "string", struct: "object", message: "object" };

function resolve(node: JsonSchema, root: JsonSchema): JsonSchema {
  const ref = node.$ref;
  if (typeof ref !== "string") return node;
  return (root.$defs as Record<string, JsonSchema>)[ref.replace(/^#\/\$defs\//, "")]!;
}

/** Code points, as JSON Schema's minLength/maxLength count them. */
function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** The checks a property's schema makes of a scalar; undefined when it says something this file does not check. */
function scalarChecks(node: JsonSchema, kind: FieldMapping["kind"]): Check[] | undefined {
  const checks: Check[] = [];
  for (const [keyword, v] of Object.entries(node)) {
    if (ANNOTATIONS.has(keyword)) continue;
    switch (keyword) {
      case "type":
        if (v !== SCHEMA_TYPE[kind]) return undefined;
        break;
      case "minLength":
        checks.push(((s: string) => s.length >= (v as number) && codePoints(s) >= (v as number)) as Check);
        break;
      case "maxLength":
        checks.push(((s: string) => s.length <= (v as number) || codePoints(s) <= (v as number)) as Check);
        break;
      case "pattern": {
        const re = new RegExp(v as string, "u"); // as ajv compiles it (unicodeRegExp)
        checks.push(((s: string) => re.test(s)) as Check);
        break;
      }
      case "format": {
        const format = CONTRACT_FORMATS[v as string];
        if (!format) return undefined;
        checks.push(format as Check);
        break;
      }
      case "const":
        checks.push(((x: unknown) => x === v) as Check);
        break;
      case "enum":
        checks.push(((x: unknown) => (v as unknown[]).includes(x)) as Check);
        break;
      case "minimum":
        checks.push(((x: number) => x >= (v as number)) as Check);
        break;
      case "maximum":
        checks.push(((x: number) => x <= (v as number)) as Check);
        break;
      case "additionalProperties":
        if (kind !== "struct" || v !== true) return undefined;
        break;
      default:
        return undefined;
    }
  }
  return checks;
}

const OBJECT_KEYWORDS = new Set(["type", "properties", "required", "additionalProperties"]);

/** A plan for a message; undefined when its schema says something this file does not check. */
function planMessage(mapping: MessageMapping, node: JsonSchema, root: JsonSchema, version?: { field: string; expected: string }): MessagePlan | undefined {
  for (const [keyword, v] of Object.entries(node)) {
    if (ANNOTATIONS.has(keyword)) continue;
    if (!OBJECT_KEYWORDS.has(keyword)) return undefined;
    if (keyword === "type" && v !== "object") return undefined;
  }
  const properties = (node.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((node.required ?? []) as string[]);
  // Every required property must be one the message carries.
  if ([...required].some((name) => !mapping.fields.some((f) => f.json === name))) return undefined;
  const fields: FieldPlan[] = [];
  for (const [index, field] of mapping.fields.entries()) {
    const isVersion = version?.field === field.json;
    const property = properties[field.json];
    if (!property && !isVersion) return undefined; // a field the schema does not name: the reference path judges it
    const resolved = property ? resolve(property, root) : { type: "string" };
    let message: MessagePlan | undefined;
    let checks: Check[] | undefined;
    if (field.kind === "message") {
      message = planMessage(field.message!, resolved, root);
      if (!message) return undefined;
      checks = [];
    } else {
      checks = scalarChecks(resolved, field.kind);
      if (!checks) return undefined;
    }
    if (isVersion) checks.push(((s: string) => s === version!.expected) as Check);
    fields.push({ field, index, key: `${JSON.stringify(field.json)}:`, checks, required: required.has(field.json), message });
  }
  const byTag = new Map<number, FieldPlan>();
  for (const plan of fields) byTag.set((plan.field.number << 3) | wireTypeOf(plan.field), plan);
  return { byTag, fields };
}

function wireTypeOf(field: FieldMapping): number {
  return field.kind === "int32" || field.kind === "int64" || field.kind === "uint64" ? WIRE_VARINT : WIRE_LEN;
}

/** Where an event type's own time and subtype are, for the summary. */
const SUMMARY_FIELDS: Readonly<Record<ArchiveEventType, { readonly time: string; readonly subtype?: string }>> = {
  SessionStartEvent: { time: "timestamp" },
  SessionEndEvent: { time: "timestamp" },
  VrpEvent: { time: "ts_ms", subtype: "event_type" },
};

interface EventPlan {
  readonly type: ArchiveEventType;
  readonly plan: MessagePlan;
  readonly time: FieldPlan;
  readonly subtype?: FieldPlan;
}

function planEvent(type: ArchiveEventType): EventPlan | undefined {
  const spec = contracts[type].spec;
  const plan = planMessage(EVENT_TYPES[type].mapping, spec.schema, spec.schema, spec.version);
  if (!plan) return undefined;
  const named = (json: string | undefined) => (json === undefined ? undefined : plan.fields.find((f) => f.field.json === json));
  const time = named(SUMMARY_FIELDS[type].time);
  if (!time) return undefined;
  return { type, plan, time, subtype: named(SUMMARY_FIELDS[type].subtype) };
}

interface EntryPlan {
  readonly kind: LogEntryKind;
  /** `"entry":"kind"` */
  readonly entryText: string;
  readonly event?: EventPlan;
  readonly eventTag: number;
  /** Wrapper fields by tag: their index in `fields` and `"name":`. */
  readonly wrapperByTag: ReadonlyMap<number, { readonly index: number; readonly key: string; readonly kind: "string" | "uint64" }>;
  readonly wrapperCount: number;
}

let entryPlans: Map<number, EntryPlan> | undefined;

/** LogEntry's oneof members by tag, built on first use. */
function entries(): Map<number, EntryPlan> {
  if (entryPlans) return entryPlans;
  const events = new Map<ArchiveEventType, EventPlan | undefined>();
  entryPlans = new Map();
  for (const kind of LOG_ENTRY_KINDS) {
    const info = ENTRY_KINDS[kind];
    if (!events.has(info.type)) events.set(info.type, planEvent(info.type));
    const wrapperByTag = new Map(
      info.fields.map((f, index) => [(f.number << 3) | (f.kind === "uint64" ? WIRE_VARINT : WIRE_LEN), { index, key: `${JSON.stringify(f.json)}:`, kind: f.kind }] as const),
    );
    entryPlans.set((info.number << 3) | WIRE_LEN, {
      kind,
      entryText: `"entry":${JSON.stringify(kind)}`,
      event: events.get(info.type),
      eventTag: (info.eventNumber << 3) | WIRE_LEN,
      wrapperByTag,
      wrapperCount: info.fields.length,
    });
  }
  return entryPlans;
}

// ---------------------------------------------------------------------------
// Reading: one record at a time, synchronously, so one set of state serves

/** Buffer's own slicers (what toString calls after checking its arguments): the bounds are checked here. */
type SlicingBuffer = Buffer & { latin1Slice(start: number, end: number): string; utf8Slice(start: number, end: number): string };
let buf = Buffer.alloc(0) as SlicingBuffer;
let pos = 0;
/** The JSON text of the string readString read last. */
let quoted = "";

function varint32(): number {
  let result = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (pos >= buf.length) throw REFERENCE;
    const b = buf[pos++]!;
    result += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) {
      if (result > 0xffffffff) throw REFERENCE;
      return result;
    }
  }
  throw REFERENCE;
}

/** A varint as a signed 64-bit integer, exact (|value| <= 2^53 - 1) or the reference path. */
function varint64(): number {
  let lo = 0;
  let hi = 0;
  let b = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    if (pos >= buf.length) throw REFERENCE;
    b = buf[pos++]!;
    lo |= (b & 0x7f) << shift;
    if (b < 0x80) return lo;
  }
  if (pos >= buf.length) throw REFERENCE;
  b = buf[pos++]!;
  lo |= (b & 0x0f) << 28;
  hi = (b & 0x7f) >> 4;
  if (b >= 0x80) {
    for (let shift = 3; ; shift += 7) {
      if (pos >= buf.length || shift > 31) throw REFERENCE;
      b = buf[pos++]!;
      if (shift === 31 && b > 1) throw REFERENCE; // bits past 64
      hi |= (b & 0x7f) << shift;
      if (b < 0x80) break;
    }
  }
  lo >>>= 0;
  hi >>>= 0;
  let value: number;
  if (hi >= 0x80000000) {
    const nlo = (~lo + 1) >>> 0;
    const nhi = (~hi + (nlo === 0 ? 1 : 0)) >>> 0;
    value = -(nhi * 2 ** 32 + nlo);
  } else {
    value = hi * 2 ** 32 + lo;
  }
  if (value > MAX_EXACT || value < -MAX_EXACT) throw REFERENCE;
  return value;
}

/** End of a length-delimited value that must lie within `end`. */
function lengthEnd(end: number): number {
  const length = varint32();
  const stop = pos + length;
  if (stop > end) throw REFERENCE;
  return stop;
}

/** A length-delimited string: strict UTF-8; sets `quoted` to its JSON text. */
function readString(end: number): string {
  const stop = lengthEnd(end);
  const start = pos;
  let plain = true;
  let ascii = true;
  for (let i = start; i < stop; i++) {
    const c = buf[i]!;
    if (c < 0x20 || c === 0x22 || c === 0x5c) plain = false;
    else if (c >= 0x80) ascii = false;
  }
  pos = stop;
  if (ascii) {
    const s = buf.latin1Slice(start, stop);
    quoted = plain ? `"${s}"` : JSON.stringify(s);
    return s;
  }
  if (!isUtf8(buf.subarray(start, stop))) throw REFERENCE; // the reference decoder refuses it, and says so
  const s = buf.utf8Slice(start, stop);
  quoted = JSON.stringify(s);
  return s;
}

/** A google.protobuf.Timestamp, formatted (the reference path judges one that does not format). */
function readTimestamp(end: number): { text: string; seconds: number; nanos: number } {
  const stop = lengthEnd(end);
  let seconds = 0;
  let nanos = 0;
  let seen = 0;
  while (pos < stop) {
    const tag = buf[pos++]!;
    if (tag === ((1 << 3) | WIRE_VARINT) && !(seen & 1)) {
      seconds = varint64();
      seen |= 1;
    } else if (tag === ((2 << 3) | WIRE_VARINT) && !(seen & 2)) {
      nanos = varint64() | 0; // int32, as the reference decoder reads it
      seen |= 2;
    } else throw REFERENCE;
  }
  if (pos !== stop) throw REFERENCE;
  let text: string;
  try {
    text = formatTimestamp({ seconds: seconds as unknown as bigint, nanos });
  } catch {
    throw REFERENCE;
  }
  return { text, seconds, nanos };
}

const FIELDS_ENTRY = (1 << 3) | WIRE_LEN;
const ENTRY_KEY = (1 << 3) | WIRE_LEN;
const ENTRY_VALUE = (2 << 3) | WIRE_LEN;
const NULL_VALUE = (1 << 3) | WIRE_VARINT;
const NUMBER_VALUE = (2 << 3) | WIRE_BIT64;
const STRING_VALUE = (3 << 3) | WIRE_LEN;
const BOOL_VALUE = (4 << 3) | WIRE_VARINT;
const STRUCT_VALUE = (5 << 3) | WIRE_LEN;
const LIST_VALUE = (6 << 3) | WIRE_LEN;
const LIST_ITEM = (1 << 3) | WIRE_LEN;

/** An array-index-like key ("0", "17"): a JavaScript object puts it first, so the reference path writes it elsewhere. */
function digitsOnly(key: string): boolean {
  if (key.length === 0) return false;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** A Struct at `depth` (the free-form field itself is 1), as JSON text. */
function struct(end: number, depth: number): string {
  let out = "{";
  let keys: string[] | undefined;
  let keySet: Set<string> | undefined;
  while (pos < end) {
    if (buf[pos++] !== FIELDS_ENTRY) throw REFERENCE;
    const entryEnd = lengthEnd(end);
    let key = "";
    let keyText = '""';
    if (pos < entryEnd && buf[pos] === ENTRY_KEY) {
      pos++;
      key = readString(entryEnd);
      keyText = quoted;
    }
    if (pos >= entryEnd || buf[pos++] !== ENTRY_VALUE) throw REFERENCE; // no value: the reference drops the key
    if (lengthEnd(entryEnd) !== entryEnd) throw REFERENCE;
    if (FORBIDDEN_KEYS.has(key) || digitsOnly(key)) throw REFERENCE;
    // A repeated key keeps its first place and its last value in the reference path.
    if (keys === undefined) keys = [key];
    else if (keySet === undefined) {
      if (keys.includes(key)) throw REFERENCE;
      keys.push(key);
      if (keys.length > 8) keySet = new Set(keys);
    } else {
      if (keySet.has(key)) throw REFERENCE;
      keySet.add(key);
    }
    const value = freeValue(entryEnd, depth + 1);
    out += keys.length === 1 && keySet === undefined ? `${keyText}:${value}` : `,${keyText}:${value}`;
  }
  if (pos !== end) throw REFERENCE;
  return `${out}}`;
}

function list(end: number, depth: number): string {
  let out = "[";
  let first = true;
  while (pos < end) {
    if (buf[pos++] !== LIST_ITEM) throw REFERENCE;
    const itemEnd = lengthEnd(end);
    const value = freeValue(itemEnd, depth + 1);
    out += first ? value : `,${value}`;
    first = false;
  }
  if (pos !== end) throw REFERENCE;
  return `${out}]`;
}

/** A google.protobuf.Value of exactly one kind at `depth`, as JSON text. */
function freeValue(end: number, depth: number): string {
  if (depth > MAX_FREE_FORM_DEPTH || pos >= end) throw REFERENCE;
  const tag = buf[pos++];
  let text: string;
  switch (tag) {
    case NULL_VALUE:
      if (buf[pos++] !== 0) throw REFERENCE;
      text = "null";
      break;
    case NUMBER_VALUE: {
      if (pos + 8 > end) throw REFERENCE;
      const n = buf.readDoubleLE(pos);
      pos += 8;
      if (!Number.isFinite(n)) throw REFERENCE;
      text = String(n); // what JSON.stringify writes for a finite number (-0 too: "0")
      break;
    }
    case STRING_VALUE:
      readString(end);
      text = quoted;
      break;
    case BOOL_VALUE: {
      const b = buf[pos++];
      if (b !== 0 && b !== 1) throw REFERENCE;
      text = b === 1 ? "true" : "false";
      break;
    }
    case STRUCT_VALUE: {
      const stop = lengthEnd(end);
      text = struct(stop, depth);
      break;
    }
    case LIST_VALUE: {
      const stop = lengthEnd(end);
      text = list(stop, depth);
      break;
    }
    default:
      throw REFERENCE;
  }
  if (pos !== end) throw REFERENCE; // exactly one kind
  return text;
}

/** Summary facts of the event being read (its own time, its subtype). */
let timeSeconds = 0;
let timeNanos = 0;
let subtype: string | undefined;

function passes(checks: readonly Check[], value: unknown): boolean {
  for (let i = 0; i < checks.length; i++) if (!(checks[i] as (v: unknown) => boolean)(value)) return false;
  return true;
}

/** A message (up to `end`) as JSON text; `top` for the event itself (its summary facts are kept). */
function message(plan: MessagePlan, end: number, top: EventPlan | undefined): string {
  const texts: (string | undefined)[] = new Array(plan.fields.length);
  while (pos < end) {
    const tag = varint32();
    const f = plan.byTag.get(tag);
    if (f === undefined || texts[f.index] !== undefined) throw REFERENCE; // unknown or repeated: the reference path
    let text: string;
    switch (f.field.kind) {
      case "string": {
        const s = readString(end);
        if (!passes(f.checks, s)) throw REFERENCE;
        text = quoted;
        if (top?.subtype === f) subtype = s;
        break;
      }
      case "int32": {
        const n = varint64() | 0;
        if (!passes(f.checks, n)) throw REFERENCE;
        text = String(n);
        break;
      }
      case "int64": {
        const n = varint64();
        if (!passes(f.checks, n)) throw REFERENCE;
        text = String(n);
        if (top?.time === f) {
          timeSeconds = Math.floor(n / 1000);
          timeNanos = (n - timeSeconds * 1000) * 1_000_000;
        }
        break;
      }
      case "timestamp": {
        const ts = readTimestamp(end);
        if (!passes(f.checks, ts.text)) throw REFERENCE;
        text = `"${ts.text}"`;
        if (top?.time === f) {
          timeSeconds = ts.seconds;
          timeNanos = ts.nanos;
        }
        break;
      }
      case "struct": {
        const stop = lengthEnd(end);
        text = struct(stop, 1);
        break;
      }
      case "message": {
        const stop = lengthEnd(end);
        text = message(f.message!, stop, undefined);
        if (pos !== stop) throw REFERENCE;
        break;
      }
      default:
        throw REFERENCE;
    }
    texts[f.index] = text;
  }
  if (pos !== end) throw REFERENCE;
  let out = "{";
  for (let i = 0; i < plan.fields.length; i++) {
    const f = plan.fields[i]!;
    let text = texts[i];
    if (text === undefined) {
      // Absent on the wire: implicit-presence scalars are their defaults, the rest are left out.
      const kind = f.field.kind;
      if (kind === "string" && !f.field.optional) {
        if (!passes(f.checks, "")) throw REFERENCE;
        if (top?.subtype === f) subtype = "";
        text = '""';
      } else if (kind === "int32" || kind === "int64") {
        if (!passes(f.checks, 0)) throw REFERENCE;
        if (top?.time === f) timeSeconds = timeNanos = 0;
        text = "0";
      } else {
        if (f.required) throw REFERENCE;
        continue;
      }
    }
    out += out.length === 1 ? `${f.key}${text}` : `,${f.key}${text}`;
  }
  return `${out}}`;
}

/** The line of one LogEntry (without its newline), or REFERENCE thrown. */
function entryLine(layout: LineLayout, sequence: bigint | undefined, tally: SummaryBuilder): string {
  const end = buf.length;
  let receivedAt: string | undefined;
  let entry: EntryPlan | undefined;
  let eventText: string | undefined;
  const wrapper: (string | undefined)[] = [];
  while (pos < end) {
    const tag = varint32();
    if (tag === ((1 << 3) | WIRE_LEN) && receivedAt === undefined) {
      receivedAt = readTimestamp(end).text;
      continue;
    }
    const plan = entry === undefined ? entries().get(tag) : undefined; // a second oneof member: the reference path
    if (plan === undefined || plan.event === undefined) throw REFERENCE;
    entry = plan;
    const stop = lengthEnd(end);
    while (pos < stop) {
      const t = varint32();
      if (t === plan.eventTag && eventText === undefined) {
        const eventEnd = lengthEnd(stop);
        subtype = undefined;
        eventText = message(plan.event.plan, eventEnd, plan.event);
        continue;
      }
      const w = plan.wrapperByTag.get(t);
      if (w === undefined || wrapper[w.index] !== undefined) throw REFERENCE;
      if (w.kind === "string") {
        const s = readString(stop);
        wrapper[w.index] = s === "" ? "" : `,${w.key}${quoted}`;
      } else {
        const n = varint64();
        if (n < 0) throw REFERENCE; // a uint64 past 2^63: beyond what JSON carries exactly
        wrapper[w.index] = n === 0 ? "" : `,${w.key}${n}`;
      }
    }
    if (pos !== stop) throw REFERENCE;
  }
  if (entry === undefined || eventText === undefined) throw REFERENCE;
  if (sequence !== undefined && sequence > MAX_EXACT_SEQUENCE) throw REFERENCE;
  tally.counted(entry.event!.type, timeSeconds, timeNanos, subtype, sequence);
  if (layout === "events") return eventText;
  let line = "{";
  if (sequence !== undefined) line += `"log_sequence":${sequence},`;
  if (receivedAt !== undefined) line += `"received_at":"${receivedAt}",`;
  line += entry.entryText;
  for (let i = 0; i < entry.wrapperCount; i++) line += wrapper[i] ?? "";
  return `${line},"event":${eventText}}`;
}

/** Export's fast path for a layout: a LogEntry's bytes -> its line and newline, counted; undefined for the reference path. */
export function transcoderFor(layout: LineLayout): RecordFastPath {
  return (payload, sequence, tally) => {
    buf = (payload instanceof Buffer ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)) as SlicingBuffer;
    pos = 0;
    try {
      return `${entryLine(layout, sequence, tally)}\n`;
    } catch (e) {
      if (e === REFERENCE) return undefined;
      throw e;
    } finally {
      buf = EMPTY; // hold no record between calls
    }
  };
}
const EMPTY = Buffer.alloc(0) as SlicingBuffer;
