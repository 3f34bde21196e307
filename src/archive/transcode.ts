/**
 * Export's fast path: a LogEntry's protobuf bytes straight to the bytes of
 * its JSON Lines line, with no message object, no contract JSON object, and
 * no JSON.stringify: one pass over a message whose fields come in the
 * contract's order, two over any other (where each field is, then each
 * field in the contract's order).
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
 * - strings must be valid UTF-8 (then they are well-formed Unicode, and
 *   their code points are their bytes that are not continuation bytes);
 *   timestamps must format (formatTimestamp refuses what is out of range,
 *   and what it writes is RFC 3339 by construction); free-form values must
 *   be finite, at most MAX_FREE_FORM_DEPTH deep, with no forbidden key.
 *
 * Anything it does not handle the way the reference path would with
 * certainty is left to the reference path, which then writes the line or
 * reports the damage: unknown or repeated fields, wrong wire types, a record
 * that breaks a rule, integer-like or repeated Struct keys (JavaScript
 * objects reorder or merge them), a Value with no kind, a VRP policy entry,
 * a sequence past 2^53. Strings are escaped as JSON.stringify escapes them
 * (the differential test, test/archive-transcode.test.ts, holds it to that).
 */
import { isUtf8 } from "node:buffer";
import { MAX_FREE_FORM_DEPTH } from "../contract/shape.js";
import { formatTimestamp, MAX_TIMESTAMP_SECONDS, MIN_TIMESTAMP_SECONDS } from "../contract/timestamp.js";
import { ENTRY_KINDS, LOG_ENTRY_KINDS } from "./codec.js";
import type { ArchiveEventType, LogEntryKind } from "./event.js";
import {
  eventPlan,
  K_INT32,
  K_INT64,
  K_MESSAGE,
  K_STRING,
  K_STRUCT,
  K_TIMESTAMP,
  type EventPlan,
  type FieldPlan,
  type MessagePlan,
} from "./field-plans.js";
import type { LineLayout } from "./lines.js";
import type { FastOutput, FastPath } from "./read.js";
import {
  FIELDS_ENTRY,
  ENTRY_KEY,
  ENTRY_VALUE,
  NULL_VALUE,
  NUMBER_VALUE,
  STRING_VALUE,
  BOOL_VALUE,
  STRUCT_VALUE,
  LIST_VALUE,
  LIST_ITEM,
  WIRE_VARINT,
  WIRE_LEN,
} from "../bridge/struct-wire.js";

/** Thrown inside the transcoder: this record takes the reference path. */
const REFERENCE = Symbol("take the reference path");

const MAX_EXACT = Number.MAX_SAFE_INTEGER;

interface WrapperPlan {
  readonly index: number;
  readonly kind: "string" | "uint64";
  /** The bytes of `,"name":`. */
  readonly key: Buffer;
}

interface EntryPlan {
  readonly event: EventPlan | undefined;
  readonly eventTag: number;
  /** The bytes of `"entry":"kind"`. */
  readonly entryText: Buffer;
  readonly wrapperByTag: readonly (WrapperPlan | undefined)[];
  readonly wrappers: readonly WrapperPlan[];
}

let entryPlans: (EntryPlan | undefined)[] | undefined;

/** LogEntry's oneof members by tag, built on first use. */
function entryPlanFor(tag: number): EntryPlan | undefined {
  if (!entryPlans) {
    entryPlans = [];
    for (const kind of LOG_ENTRY_KINDS) {
      const info = ENTRY_KINDS[kind as LogEntryKind];
      const wrappers = info.fields.map(
        (f, index): WrapperPlan => ({ index, kind: f.kind, key: Buffer.from(`,${JSON.stringify(f.json)}:`) }),
      );
      const wrapperByTag: WrapperPlan[] = [];
      for (const [i, f] of info.fields.entries())
        wrapperByTag[(f.number << 3) | (f.kind === "uint64" ? WIRE_VARINT : WIRE_LEN)] = wrappers[i]!;
      entryPlans[(info.number << 3) | WIRE_LEN] = {
        event: eventPlan(info.type),
        eventTag: (info.eventNumber << 3) | WIRE_LEN,
        entryText: Buffer.from(`"entry":${JSON.stringify(kind)}`),
        wrapperByTag,
        wrappers,
      };
    }
  }
  return tag < entryPlans.length ? entryPlans[tag] : undefined;
}

// ---------------------------------------------------------------------------
// Reading and writing: one record at a time, synchronously, so one set of state serves

/** Buffer's own slicers (what toString calls after checking its arguments): the bounds are checked here. */
type SlicingBuffer = Buffer & {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
};
const EMPTY = Buffer.alloc(0) as SlicingBuffer;
let buf = EMPTY;
let pos = 0;
/** The end of the record in buf (buf may hold more: the chunk it was read in). */
let limit = 0;
let out: Buffer = EMPTY;
let at = 0;
/** Marks a message pass's fields as seen without clearing the scratch. */
let pass = 0;

function room(n: number): void {
  if (at + n <= out.length) return;
  const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, at + n, 64 * 1024));
  out.copy(bigger, 0, 0, at);
  out = bigger;
}

function writeBytes(bytes: Buffer): void {
  const n = bytes.length;
  room(n);
  const dst = out;
  const a = at;
  for (let i = 0; i < n; i++) dst[a + i] = bytes[i]!;
  at = a + n;
}

function writeAscii(text: string): void {
  const n = text.length;
  room(n);
  const dst = out;
  const a = at;
  for (let i = 0; i < n; i++) dst[a + i] = text.charCodeAt(i);
  at = a + n;
}

/** A safe integer as JSON.stringify writes it (-0 as 0), without making its text. */
function writeInteger(n: number): void {
  room(17);
  if (n < 0) {
    out[at++] = 0x2d;
    n = -n;
  }
  if (n < 10) {
    out[at++] = 0x30 + n; // -0 too: 0
    return;
  }
  if (n >= 1e8) {
    // Two halves of small integers: % and / on a double past 2^31 are slow.
    const high = Math.floor(n / 1e8);
    writeSmall(high, 0);
    writeSmall(n - high * 1e8, 8);
  } else writeSmall(n, 0);
}

/**
 * A number of tenths that is not an integer (34.5, -0.1), as String(n)
 * writes it, without making its text; false for any other. Below 2^40 the
 * doubles lie far closer together than 0.1, so the one-decimal text that
 * reads back as n is its shortest, which String(n) is.
 */
function writeTenths(n: number): boolean {
  const tenths = n * 10;
  if (!Number.isInteger(tenths) || tenths / 10 !== n || !(Math.abs(n) < 2 ** 40)) return false;
  room(16);
  if (tenths < 0) out[at++] = 0x2d;
  const whole = Math.abs(tenths);
  writeInteger(Math.floor(whole / 10));
  out[at++] = 0x2e;
  out[at++] = 0x30 + (whole % 10);
  return true;
}

/** n < 1e8, in `width` digits (zero-padded), or as many as it has (width 0). */
function writeSmall(n: number, width: number): void {
  let digits = width;
  if (digits === 0) {
    digits = 1;
    for (let p = 10; p <= n; p *= 10) digits++;
  }
  const dst = out;
  let v = n | 0;
  for (let i = at + digits - 1; i >= at; i--) {
    const q = (v / 10) | 0;
    dst[i] = 0x30 + v - q * 10;
    v = q;
  }
  at += digits;
}

function writeByte(b: number): void {
  room(1);
  out[at++] = b;
}

function varint32(): number {
  if (pos < limit && buf[pos]! < 0x80) return buf[pos++]!; // one byte: most tags and lengths
  let result = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (pos >= limit) throw REFERENCE;
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
  let b = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    if (pos >= limit) throw REFERENCE;
    b = buf[pos++]!;
    lo |= (b & 0x7f) << shift;
    if (b < 0x80) return lo;
  }
  if (pos >= limit) throw REFERENCE;
  b = buf[pos++]!;
  lo |= (b & 0x0f) << 28;
  let hi = (b & 0x7f) >> 4;
  if (b >= 0x80) {
    for (let shift = 3; ; shift += 7) {
      if (pos >= limit || shift > 31) throw REFERENCE;
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

const HEX = "0123456789abcdef";
/** JSON.stringify's short escapes (each character to the letter after its backslash); other control characters are written \u00XX. */
const SHORT_ESCAPE: Readonly<Record<number, number>> = Object.fromEntries(
  [...'\b\t\n\f\r"\\'].map((c, i) => [c.charCodeAt(0), 'btnfr"\\'.charCodeAt(i)]),
);

/**
 * The string bytes[start..end) as a JSON string, as JSON.stringify writes
 * it (valid UTF-8 is copied; '"', '\' and control characters are escaped).
 * Returns its code points; the reference path takes what is not UTF-8.
 */
function writeJsonString(start: number, end: number): number {
  room((end - start) * 6 + 2);
  // Locals, not the module's state, in the per-byte loops: a module variable is a load (and a store) per byte.
  const src = buf;
  const dst = out;
  let a = at;
  dst[a++] = 0x22;
  let i = start;
  // Plain ASCII (the common case) is copied as it is checked.
  for (; i < end; i++) {
    const c = src[i]!;
    if (c < 0x20 || c === 0x22 || c === 0x5c || c >= 0x80) break;
    dst[a++] = c;
  }
  if (i === end) {
    dst[a++] = 0x22;
    at = a;
    return end - start;
  }
  let continuation = 0;
  let high = 0;
  for (; i < end; i++) {
    const c = src[i]!;
    if (c >= 0x20 && c !== 0x22 && c !== 0x5c) {
      dst[a++] = c;
      high |= c;
      if ((c & 0xc0) === 0x80) continuation++;
      continue;
    }
    dst[a++] = 0x5c;
    const short = SHORT_ESCAPE[c];
    if (short !== undefined) dst[a++] = short;
    else {
      dst[a++] = 0x75; // u00XX
      dst[a++] = 0x30;
      dst[a++] = 0x30;
      dst[a++] = HEX.charCodeAt(c >> 4);
      dst[a++] = HEX.charCodeAt(c & 15);
    }
  }
  at = a;
  out[at++] = 0x22;
  // The reference decoder refuses what is not UTF-8, and says so.
  if (high >= 0x80 && !isUtf8(buf.subarray(start, end))) throw REFERENCE;
  return end - start - continuation;
}

/** Reads a Timestamp at start..end and writes it as formatTimestamp writes it, quoted (the reference path takes one that does not format). */
function writeTimestamp(start: number, end: number): void {
  readTimestamp(start, end);
  const seconds = timestampSeconds;
  const nanos = timestampNanos;
  const days = Math.floor(seconds / 86400);
  if (days !== cachedDay || nanos < 0 || nanos > 999_999_999) {
    // A new day (or nanos to refuse): formatTimestamp itself judges it and gives the date.
    let text: string;
    try {
      text = formatTimestamp({ seconds: seconds as unknown as bigint, nanos });
    } catch {
      throw REFERENCE;
    }
    cachedDay = days;
    cachedDate = Buffer.from(`"${text.slice(0, 11)}`);
    writeAscii(`"${text}"`);
    return;
  }
  // The same day as the last: its date, then the time as formatTimestamp writes it.
  writeBytes(cachedDate);
  const second = seconds - days * 86400;
  room(32);
  twoDigits(Math.floor(second / 3600));
  out[at++] = 0x3a;
  twoDigits(Math.floor((second % 3600) / 60));
  out[at++] = 0x3a;
  twoDigits(second % 60);
  if (nanos !== 0) {
    out[at++] = 0x2e;
    if (nanos % 1_000_000 === 0) digits(nanos / 1_000_000, 3);
    else if (nanos % 1_000 === 0) digits(nanos / 1_000, 6);
    else digits(nanos, 9);
  }
  out[at++] = 0x5a; // Z
  out[at++] = 0x22;
}

/** A Timestamp judged as formatTimestamp judges it (in range, nanos in 0..999999999), where it is not written. */
function checkTimestamp(start: number, end: number): void {
  readTimestamp(start, end);
  const seconds = timestampSeconds;
  const nanos = timestampNanos;
  if (seconds < MIN_SECONDS || seconds > MAX_SECONDS || nanos < 0 || nanos > 999_999_999) throw REFERENCE;
}
const MIN_SECONDS = Number(MIN_TIMESTAMP_SECONDS);
const MAX_SECONDS = Number(MAX_TIMESTAMP_SECONDS);

/** Strings are judged (valid UTF-8) where they are not written. */
function checkUtf8(start: number, end: number): void {
  const src = buf;
  for (let i = start; i < end; i++) {
    if (src[i]! >= 0x80) {
      if (!isUtf8(src.subarray(start, end))) throw REFERENCE;
      return;
    }
  }
}

/** The Timestamp at start..end into timestampSeconds and timestampNanos (its wire form checked, not its range). */
function readTimestamp(start: number, end: number): void {
  pos = start;
  let seconds = 0;
  let nanos = 0;
  let seen = 0;
  while (pos < end) {
    const tag = buf[pos++]!;
    if (tag === ((1 << 3) | WIRE_VARINT) && !(seen & 1)) {
      seconds = varint64();
      seen |= 1;
    } else if (tag === ((2 << 3) | WIRE_VARINT) && !(seen & 2)) {
      nanos = varint64() | 0; // int32, as the reference decoder reads it
      seen |= 2;
    } else throw REFERENCE;
  }
  if (pos !== end) throw REFERENCE;
  timestampSeconds = seconds;
  timestampNanos = nanos;
}
let timestampSeconds = 0;
let timestampNanos = 0;
let cachedDay = NaN;
let cachedDate: Buffer = EMPTY;

function twoDigits(n: number): void {
  out[at++] = 0x30 + Math.floor(n / 10);
  out[at++] = 0x30 + (n % 10);
}

function digits(n: number, width: number): void {
  for (let i = width - 1; i >= 0; i--) {
    out[at + i] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  }
  at += width;
}

const FORBIDDEN = ["__proto__", "constructor", "prototype"].map((k) => Buffer.from(k));
const NULL_TEXT = Buffer.from("null");
const TRUE_TEXT = Buffer.from("true");
const FALSE_TEXT = Buffer.from("false");

function sameBytes(aStart: number, aEnd: number, bStart: number, bEnd: number): boolean {
  if (aEnd - aStart !== bEnd - bStart) return false;
  for (let i = 0; i < aEnd - aStart; i++) if (buf[aStart + i] !== buf[bStart + i]) return false;
  return true;
}

/** A key the reference path writes differently or refuses: forbidden, or array-index-like (a JavaScript object puts those first). */
function unusualKey(start: number, end: number): boolean {
  const n = end - start;
  if (n === 9 || n === 11) {
    for (const word of FORBIDDEN) {
      if (word.length !== n) continue;
      let same = true;
      for (let i = 0; i < n && same; i++) same = buf[start + i] === word[i];
      if (same) return true;
    }
  }
  if (n === 0) return false;
  for (let i = start; i < end; i++) if (buf[i]! < 0x30 || buf[i]! > 0x39) return false;
  return true;
}

/** Key positions of the Struct being written (for repeated keys), per depth. */
const keyStarts: number[][] = [];
const keyEnds: number[][] = [];

/** A Struct at `depth` (the free-form field itself is 1). */
function struct(end: number, depth: number): void {
  writeByte(0x7b); // {
  const starts = (keyStarts[depth] ??= []);
  const ends = (keyEnds[depth] ??= []);
  let keys = 0; // in starts/ends (what lies past it is an earlier Struct's)
  let seenKeys: Set<string> | undefined;
  while (pos < end) {
    if (buf[pos++] !== FIELDS_ENTRY) throw REFERENCE;
    const entryEnd = lengthEnd(end);
    let keyStart = pos;
    let keyEnd = pos; // no key field: the key is ""
    if (pos < entryEnd && buf[pos] === ENTRY_KEY) {
      pos++;
      keyEnd = lengthEnd(entryEnd);
      keyStart = pos;
      pos = keyEnd;
    }
    if (pos >= entryEnd || buf[pos++] !== ENTRY_VALUE) throw REFERENCE; // no value: the reference drops the key
    if (lengthEnd(entryEnd) !== entryEnd) throw REFERENCE;
    if (unusualKey(keyStart, keyEnd)) throw REFERENCE;
    // A repeated key keeps its first place and its last value in the reference path.
    if (seenKeys === undefined) {
      for (let k = 0; k < keys; k++) if (sameBytes(starts[k]!, ends[k]!, keyStart, keyEnd)) throw REFERENCE;
      starts[keys] = keyStart;
      ends[keys] = keyEnd;
      keys++;
      if (keys > 16) {
        seenKeys = new Set();
        for (let k = 0; k < keys; k++) seenKeys.add(buf.latin1Slice(starts[k]!, ends[k]!));
      }
    } else {
      const key = buf.latin1Slice(keyStart, keyEnd);
      if (seenKeys.has(key)) throw REFERENCE;
      seenKeys.add(key);
    }
    if (keys > 1 || seenKeys) writeByte(0x2c);
    writeJsonString(keyStart, keyEnd);
    writeByte(0x3a);
    freeValue(entryEnd, depth + 1);
  }
  if (pos !== end) throw REFERENCE;
  writeByte(0x7d);
}

function list(end: number, depth: number): void {
  writeByte(0x5b); // [
  let first = true;
  while (pos < end) {
    if (buf[pos++] !== LIST_ITEM) throw REFERENCE;
    const itemEnd = lengthEnd(end);
    if (!first) writeByte(0x2c);
    first = false;
    freeValue(itemEnd, depth + 1);
  }
  if (pos !== end) throw REFERENCE;
  writeByte(0x5d);
}

/** A google.protobuf.Value of exactly one kind at `depth`. */
function freeValue(end: number, depth: number): void {
  if (depth > MAX_FREE_FORM_DEPTH || pos >= end) throw REFERENCE;
  const tag = buf[pos++];
  switch (tag) {
    case NULL_VALUE:
      if (buf[pos++] !== 0) throw REFERENCE;
      writeBytes(NULL_TEXT);
      break;
    case NUMBER_VALUE: {
      if (pos + 8 > end) throw REFERENCE;
      const n = buf.readDoubleLE(pos);
      pos += 8;
      if (!Number.isFinite(n)) throw REFERENCE;
      // What JSON.stringify writes for a finite number (-0 too: "0"); a safe integer without making its text.
      if (Number.isSafeInteger(n)) writeInteger(n);
      else if (!writeTenths(n)) writeAscii(String(n));
      break;
    }
    case STRING_VALUE: {
      const stop = lengthEnd(end);
      writeJsonString(pos, stop);
      pos = stop;
      break;
    }
    case BOOL_VALUE: {
      const b = buf[pos++];
      if (b !== 0 && b !== 1) throw REFERENCE;
      writeBytes(b === 1 ? TRUE_TEXT : FALSE_TEXT);
      break;
    }
    case STRUCT_VALUE:
      struct(lengthEnd(end), depth);
      break;
    case LIST_VALUE:
      list(lengthEnd(end), depth);
      break;
    default:
      throw REFERENCE;
  }
  if (pos !== end) throw REFERENCE; // exactly one kind
}

/** Summary facts of the event being read: its own time, its subtype. */
let timeSeconds = 0;
let timeNanos = 0;
let subtype: string | undefined;

/** How many texts that passed a field's checks are remembered (VRP event types: a handful, repeating). */
const PASSED_TEXTS = 8;

/** `text` (ASCII) is the bytes buf[start..end). */
function sameAscii(text: string, start: number, end: number): boolean {
  const n = end - start;
  if (text.length !== n) return false;
  const src = buf;
  if (n > 0 && text.charCodeAt(n - 1) !== src[end - 1]) return false; // ids that share a prefix differ at the end
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) !== src[start + i]) return false;
  return true;
}

function textPasses(f: FieldPlan, text: string): boolean {
  for (let i = 0; i < f.textChecks.length; i++) if (!f.textChecks[i]!(text)) return false;
  return true;
}

function numberPasses(f: FieldPlan, n: number): boolean {
  for (let i = 0; i < f.numberChecks.length; i++) if (!f.numberChecks[i]!(n)) return false;
  return true;
}

/** A message (bytes pos..end), written in the contract's field order; `top` for the event itself. */
function message(plan: MessagePlan, end: number, top: EventPlan | undefined): void {
  if (plan.wireOrdered) {
    // The encoders write fields in number order, which is the contract's for this message: one pass.
    const from = pos;
    const written = at;
    if (messageInOrder(plan, end, top)) return;
    pos = from; // not in that order after all (or a field repeated, or unknown): the two passes judge it
    at = written;
  }
  const mark = ++pass;
  const { byTag, start, end: ends, seen } = plan;
  // First pass: where each field's value is.
  while (pos < end) {
    const tag = varint32();
    const f = tag < byTag.length ? byTag[tag] : undefined;
    if (f === undefined || seen[f.index] === mark) throw REFERENCE; // unknown or repeated: the reference path
    seen[f.index] = mark;
    if (f.kind === K_INT32) start[f.index] = varint64() | 0;
    else if (f.kind === K_INT64) start[f.index] = varint64();
    else {
      const stop = lengthEnd(end);
      start[f.index] = pos;
      ends[f.index] = stop;
      pos = stop;
    }
  }
  if (pos !== end) throw REFERENCE;
  // Second pass: each field, checked and written.
  writeByte(0x7b);
  let first = true;
  const fields = plan.fields;
  for (let k = 0; k < fields.length; k++) {
    const f = fields[k]!;
    const present = seen[f.index] === mark;
    if (!present && (f.kind >= K_TIMESTAMP || (f.kind === K_STRING && f.optional))) {
      if (f.required) throw REFERENCE;
      continue; // absent: left out
    }
    writeField(plan, f, present, start[f.index]!, ends[f.index]!, first, top);
    first = false;
  }
  writeByte(0x7d);
}

/**
 * One pass, for a message whose fields are in wire order: true when every
 * field came in that order, each at most once. False (what it wrote is
 * dropped) when one did not: then the two passes judge the message. It
 * throws only where they would too (a value that breaks a rule).
 */
function messageInOrder(plan: MessagePlan, end: number, top: EventPlan | undefined): boolean {
  writeByte(0x7b);
  let first = true;
  const fields = plan.fields;
  let tag = pos < end ? varint32() : -1;
  for (let k = 0; k < fields.length; k++) {
    const f = fields[k]!;
    const present = tag === f.tag;
    let a = 0;
    let b = 0;
    if (present) {
      if (f.kind === K_INT32) a = varint64() | 0;
      else if (f.kind === K_INT64) a = varint64();
      else {
        b = lengthEnd(end);
        a = pos;
        pos = b;
      }
    } else if (f.kind >= K_TIMESTAMP || (f.kind === K_STRING && f.optional)) {
      if (f.required) return false; // perhaps later, out of order
      continue; // absent: left out
    } else return false; // a scalar at its default, or later (out of order): its default is not judged here
    const after = pos;
    writeField(plan, f, present, a, b, first, top);
    first = false;
    pos = after;
    if (present) tag = pos < end ? varint32() : -1;
  }
  if (tag !== -1 || pos !== end) return false;
  writeByte(0x7d);
  return true;
}

/** A field present (its value at a..b, or its number in a) or absent (its default), checked and written after its key. */
function writeField(
  plan: MessagePlan,
  f: FieldPlan,
  present: boolean,
  a: number,
  b: number,
  first: boolean,
  top: EventPlan | undefined,
): void {
  writeBytes(first ? f.key : f.commaKey);
  switch (f.kind) {
    case K_STRING: {
      const s = present ? a : 0;
      const e = present ? b : 0; // absent: ""
      const length = writeJsonString(s, e);
      if (length < f.minLength || length > f.maxLength) throw REFERENCE;
      if (f.textChecks.length > 0 || top?.subtype === f) {
        // The checks are a function of the text alone: a text among the last few that passed passes.
        const passed = plan.passed[f.index]!;
        let text: string | undefined;
        for (let k = 0; k < passed.length; k++) {
          if (sameAscii(passed[k]!, s, e)) {
            text = passed[k];
            break;
          }
        }
        if (text === undefined) {
          text = e - s === length ? buf.latin1Slice(s, e) : buf.utf8Slice(s, e);
          if (!textPasses(f, text)) throw REFERENCE;
          if (e - s === length) {
            if (passed.length >= PASSED_TEXTS) passed.pop();
            passed.unshift(text);
          }
        }
        if (top?.subtype === f) subtype = text;
      }
      break;
    }
    case K_INT32:
    case K_INT64: {
      const n = present ? a : 0;
      if (!numberPasses(f, n)) throw REFERENCE;
      writeInteger(n);
      if (top?.time === f) {
        timeSeconds = Math.floor(n / 1000);
        timeNanos = (n - timeSeconds * 1000) * 1_000_000;
      }
      break;
    }
    case K_TIMESTAMP: {
      writeTimestamp(a, b);
      if (top?.time === f) {
        timeSeconds = timestampSeconds;
        timeNanos = timestampNanos;
      }
      break;
    }
    case K_STRUCT:
      pos = a;
      struct(b, 1);
      break;
    case K_MESSAGE:
      pos = a;
      message(f.message!, b, undefined);
      break;
  }
}

const wrapperStart: number[] = [];
const wrapperEnd: number[] = [];
const wrapperSeen: boolean[] = [];
const LOG_SEQUENCE = Buffer.from('{"log_sequence":');
const RECEIVED_AT = Buffer.from('"received_at":');
const EVENT_KEY = Buffer.from(',"event":');

/** Writes the line of the LogEntry in buf (without its newline), or throws REFERENCE. Returns its event type. */
function entryLine(layout: LineLayout, sequence: number | undefined): ArchiveEventType {
  const end = limit;
  let receivedStart = -1;
  let receivedEnd = -1;
  let entry: EntryPlan | undefined;
  let eventStart = -1;
  let eventEnd = -1;
  while (pos < end) {
    const tag = varint32();
    if (tag === ((1 << 3) | WIRE_LEN) && receivedStart < 0) {
      receivedEnd = lengthEnd(end);
      receivedStart = pos;
      pos = receivedEnd;
      continue;
    }
    const plan = entry === undefined ? entryPlanFor(tag) : undefined; // a second oneof member: the reference path
    if (plan === undefined || plan.event === undefined) throw REFERENCE;
    entry = plan;
    for (let i = 0; i < plan.wrappers.length; i++) wrapperSeen[i] = false;
    const stop = lengthEnd(end);
    while (pos < stop) {
      const t = varint32();
      if (t === plan.eventTag && eventStart < 0) {
        eventEnd = lengthEnd(stop);
        eventStart = pos;
        pos = eventEnd;
        continue;
      }
      const w = t < plan.wrapperByTag.length ? plan.wrapperByTag[t] : undefined;
      if (w === undefined || wrapperSeen[w.index]) throw REFERENCE;
      wrapperSeen[w.index] = true;
      if (w.kind === "string") {
        wrapperEnd[w.index] = lengthEnd(stop);
        wrapperStart[w.index] = pos;
        pos = wrapperEnd[w.index]!;
      } else {
        const n = varint64();
        if (n < 0) throw REFERENCE; // a uint64 past 2^63: beyond what JSON carries exactly
        wrapperStart[w.index] = n;
      }
    }
    if (pos !== stop) throw REFERENCE;
  }
  if (entry === undefined || eventStart < 0) throw REFERENCE;
  if (sequence !== undefined && !(sequence <= MAX_EXACT)) throw REFERENCE; // NaN: past 2^53
  const event = entry.event!;
  if (layout === "records") {
    if (sequence !== undefined) {
      writeBytes(LOG_SEQUENCE);
      writeInteger(sequence);
      writeByte(0x2c);
    } else writeByte(0x7b);
    if (receivedStart >= 0) {
      writeBytes(RECEIVED_AT);
      writeTimestamp(receivedStart, receivedEnd);
      writeByte(0x2c);
    }
    writeBytes(entry.entryText);
    for (const w of entry.wrappers) {
      if (!wrapperSeen[w.index]) continue;
      if (w.kind === "string") {
        if (wrapperStart[w.index] === wrapperEnd[w.index]) continue; // "" is not written
        writeBytes(w.key);
        writeJsonString(wrapperStart[w.index]!, wrapperEnd[w.index]!);
      } else if (wrapperStart[w.index] !== 0) {
        writeBytes(w.key);
        writeInteger(wrapperStart[w.index]!);
      }
    }
    writeBytes(EVENT_KEY);
  } else {
    // Judged even where not written, as the reference path does: the time, and the strings' UTF-8.
    if (receivedStart >= 0) checkTimestamp(receivedStart, receivedEnd);
    for (const w of entry.wrappers)
      if (wrapperSeen[w.index] && w.kind === "string") checkUtf8(wrapperStart[w.index]!, wrapperEnd[w.index]!);
  }
  pos = eventStart;
  subtype = undefined;
  message(event.plan, eventEnd, event);
  if (layout === "records") writeByte(0x7d);
  writeByte(0x0a);
  return event.type;
}

/**
 * Export's fast path for a layout: each LogEntry it takes is written (its
 * line and newline) into its output and counted; `take()` hands over what
 * was written since the last take. A record it does not take leaves
 * nothing behind and goes to the reference path.
 */
export function transcoderFor(layout: LineLayout): FastPath {
  let own: Buffer = EMPTY;
  let written = 0;
  let count = 0;
  return {
    record(bytes, start, end, sequence, tally) {
      buf = (
        bytes instanceof Buffer ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      ) as SlicingBuffer;
      pos = start;
      limit = end;
      out = own;
      at = written;
      try {
        const type = entryLine(layout, sequence);
        tally.counted(type, timeSeconds, timeNanos, subtype, sequence);
        written = at;
        count++;
        return true;
      } catch (e) {
        if (e === REFERENCE) return false;
        throw e;
      } finally {
        own = out;
        buf = EMPTY; // hold no record between calls
        out = EMPTY;
      }
    },
    take(): FastOutput {
      const taken = { bytes: own.subarray(0, written), count };
      own = EMPTY; // a new buffer for what comes next: the one taken is the caller's now
      written = 0;
      count = 0;
      return taken;
    },
    get pending() {
      return written > 0;
    },
  };
}
