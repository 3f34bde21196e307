/**
 * Import's fast path: a parsed JSON line (the events layout) straight to its
 * segment frame, in one walk over the event that checks each value as it
 * writes it: no ajv, no message object, no second conversion, no frame
 * allocated per record. The frames of a batch are written into one buffer.
 *
 * It writes exactly the bytes the reference path (lines.ts parseLine, then
 * codec.ts encodeRecord and frame.ts encodeFrame) writes, and takes only
 * events the reference path takes. The checks come from the tables the
 * reference path validates with (field-plans.ts: the JSON Schemas' keywords
 * per field, the version policy, the string formats), plus the contract's
 * rules that are not in the schemas (shape.ts): no unknown key, strings and
 * keys well-formed Unicode, free-form values finite JSON at most
 * MAX_FREE_FORM_DEPTH deep with no forbidden key, timestamps in range.
 *
 * Anything else (a records-layout line, a line that breaks a rule, a type
 * the plans cannot serve) is left to the reference path, which judges it and
 * writes it or reports it, exactly as before. test/archive-transcode.test.ts
 * holds the two to the same bytes.
 */
import { crc32 } from "node:zlib";
import { FORBIDDEN_KEYS, MAX_FREE_FORM_DEPTH } from "../contract/shape.js";
import { timestampNumbers } from "../contract/timestamp.js";
import {
  BOOL_VALUE,
  ENTRY_KEY,
  ENTRY_VALUE,
  FIELDS_ENTRY,
  LIST_ITEM,
  LIST_VALUE,
  NULL_VALUE,
  NUMBER_VALUE,
  STRING_VALUE,
  STRUCT_VALUE,
  WIRE_LEN,
} from "../bridge/struct-wire.js";
import { crc32Of } from "../store/crc32.js";
import { encodeSegmentHeader, HEADER_BYTES, SEGMENT_HEADER_BYTES } from "../store/frame.js";
import { ENTRY_KINDS } from "./codec.js";
import { EVENT_TYPES, recogniseEventType, type ArchiveEventType } from "./event.js";
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
import type { FastOutput, FastPath } from "./read.js";
import type { SummaryBuilder } from "./summary.js";

/** Thrown inside the encoder: this line takes the reference path. */
const REFERENCE = Symbol("take the reference path");

const MAX_INT32 = 2 ** 31 - 1;
/** Payloads up to this long have their CRC-32 computed in JavaScript (store/crc32.ts), as the frame reader does. */
const JS_CRC_BYTES = 256;
const MIN_INT32 = -(2 ** 31);

// Encoding is synchronous: one set of state serves every call.
const EMPTY = Buffer.alloc(0);
let out: Buffer = EMPTY;
let at = 0;

function room(n: number): void {
  if (at + n <= out.length) return;
  const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, at + n, 64 * 1024)); // a batch of frames: tens of KiB
  out.copy(bigger, 0, 0, at);
  out = bigger;
}

function varint(n: number): void {
  while (n > 0x7f) {
    out[at++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  out[at++] = n;
}

/** A safe integer as protobuf's int64 varint (two's complement: ten bytes when negative). */
function varint64(n: number): void {
  let hi = Math.floor(n / 2 ** 32);
  let lo = n - hi * 2 ** 32;
  hi >>>= 0;
  while (hi > 0 || lo > 0x7f) {
    out[at++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  out[at++] = lo;
}

/** int32 as protobuf writes it: a negative value sign-extended to ten bytes. */
function varintInt32(n: number): void {
  if (n >= 0) varint(n);
  else varint64(n);
}

/** A u32, little-endian, at `offset` of out (Buffer's writeUInt32LE checks what is known here). */
function uint32(n: number, offset: number): void {
  out[offset] = n;
  out[offset + 1] = n >>> 8;
  out[offset + 2] = n >>> 16;
  out[offset + 3] = n >>> 24;
}

const varintSize = (n: number) => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5);

/** Start a length-delimited value: one byte kept for its length (moved along if it needs more). */
function fork(): number {
  room(1);
  return at++;
}

function join(mark: number): void {
  const length = at - mark - 1;
  if (length < 0x80) {
    out[mark] = length;
    return;
  }
  const extra = varintSize(length) - 1;
  room(extra);
  out.copyWithin(mark + 1 + extra, mark + 1, at);
  const end = at + extra;
  at = mark;
  varint(length);
  at = end;
}

/**
 * A string's UTF-8 bytes, length first. Returns whether it was ASCII (then
 * it is well-formed, and its length is its code points); otherwise the
 * caller checks that it is well-formed (what was written is dropped if not).
 */
function string(s: string): boolean {
  const n = s.length;
  room(n * 3 + 5);
  if (n < SHORT_STRING) {
    // Locals in the per-character loop: a module variable is a load per character.
    const dst = out;
    const a = at + 1;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      dst[a + i] = c;
    }
    if (i === n) {
      dst[at] = n;
      at = a + n;
      return true;
    }
  }
  // Longer ones natively: a lone surrogate counts three bytes, so only ASCII has as many bytes as units.
  const length = Buffer.byteLength(s, "utf8");
  varint(length);
  at += (out as WritingBuffer).utf8Write(s, at, length);
  return length === n;
}
/** Strings shorter than this are copied in JavaScript (a native call costs more than the loop). */
const SHORT_STRING = 48;

/** Buffer's own UTF-8 writer (what write() calls after checking its arguments): the room is made here. */
type WritingBuffer = Buffer & { utf8Write(s: string, offset: number, length: number): number };

/** Code points, as JSON Schema counts a string's length (a well-formed string's surrogate pairs count once). */
function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) n--;
  }
  return n;
}

/** Summary facts of the event being encoded. */
let timeSeconds = 0;
let timeNanos = 0;
let subtype: string | undefined;
let timestampSeconds = 0;
let timestampNanos = 0;

/**
 * A string field, checked and written (tag and value) as the reference path
 * writes it: an optional one even when "", another only when not "".
 */
function stringField(f: FieldPlan, v: unknown, top: EventPlan | undefined): void {
  if (typeof v !== "string") throw REFERENCE;
  if (f.optional || v !== "") {
    room(1);
    out[at++] = f.tag;
    if (!string(v) && !v.isWellFormed()) throw REFERENCE;
  } else if (!v.isWellFormed()) throw REFERENCE;
  // A code point is one or two UTF-16 units: count them only where the bounds could be near.
  if (v.length > f.maxLength || v.length < 2 * f.minLength) {
    const length = codePoints(v);
    if (length < f.minLength || length > f.maxLength) throw REFERENCE;
  }
  for (let i = 0; i < f.textChecks.length; i++) if (!f.textChecks[i]!(v)) throw REFERENCE;
  if (top?.subtype === f) subtype = v;
}

function checkedInteger(f: FieldPlan, v: unknown, top: EventPlan | undefined): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v)) throw REFERENCE;
  if (f.kind === K_INT32 && (v > MAX_INT32 || v < MIN_INT32)) throw REFERENCE;
  for (let i = 0; i < f.numberChecks.length; i++) if (!f.numberChecks[i]!(v)) throw REFERENCE;
  if (top?.time === f) {
    timeSeconds = Math.floor(v / 1000);
    timeNanos = (v - timeSeconds * 1000) * 1_000_000;
  }
  return v;
}

/** A Timestamp message's fields, from RFC 3339 text the contract takes (in range). */
function timestamp(v: unknown): void {
  const ts = typeof v === "string" ? timestampNumbers(v) : undefined;
  if (ts === undefined) throw REFERENCE;
  const seconds = ts.seconds;
  timestampSeconds = seconds;
  timestampNanos = ts.nanos;
  room(24);
  if (seconds !== 0) {
    out[at++] = 0x08;
    varint64(seconds);
  }
  if (ts.nanos !== 0) {
    out[at++] = 0x10;
    varintInt32(ts.nanos);
  }
}

/** Own keys of a JSON object (for-in: JSON.parse objects inherit nothing enumerable). */
function keyCount(o: object): number {
  let n = 0;
  for (const _ in o) n++;
  return n;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A message's fields in field-number order, each checked; `top` for the event itself. */
function message(plan: MessagePlan, json: Record<string, unknown>, top: EventPlan | undefined): void {
  let present = 0;
  const fields = plan.encodeOrder;
  for (let k = 0; k < fields.length; k++) {
    const f = fields[k]!;
    const v = json[f.json];
    if (v === undefined) {
      if (f.required) throw REFERENCE;
      continue; // absent: its default, which is not written
    }
    present++;
    switch (f.kind) {
      case K_STRING:
        stringField(f, v, top);
        break;
      case K_INT32:
      case K_INT64: {
        const n = checkedInteger(f, v, top);
        if (n !== 0) {
          room(12);
          out[at++] = f.tag;
          if (f.kind === K_INT32) varintInt32(n);
          else varint64(n);
        }
        break;
      }
      case K_TIMESTAMP: {
        room(1);
        out[at++] = f.tag;
        const mark = fork();
        timestamp(v);
        join(mark);
        if (top?.time === f) {
          timeSeconds = timestampSeconds;
          timeNanos = timestampNanos;
        }
        break;
      }
      case K_STRUCT: {
        if (!isObject(v)) throw REFERENCE;
        room(1);
        out[at++] = f.tag;
        const mark = fork();
        struct(v, 1);
        join(mark);
        break;
      }
      case K_MESSAGE: {
        if (!isObject(v)) throw REFERENCE;
        room(1);
        out[at++] = f.tag;
        const mark = fork();
        message(f.message!, v, undefined);
        join(mark);
        break;
      }
    }
  }
  if (present !== keyCount(json)) throw REFERENCE; // a key the contract does not name
}

/** A Struct's entries (the object is at `depth`: the free-form field itself is 1), in the object's key order. */
function struct(o: Record<string, unknown>, depth: number): void {
  for (const key in o) {
    if (FORBIDDEN_KEYS.has(key)) throw REFERENCE;
    room(1);
    out[at++] = FIELDS_ENTRY;
    const entry = fork();
    if (key !== "") {
      room(1);
      out[at++] = ENTRY_KEY;
      if (!string(key) && !key.isWellFormed()) throw REFERENCE;
    }
    room(1);
    out[at++] = ENTRY_VALUE;
    const value = fork();
    freeValue(o[key], depth + 1);
    join(value);
    join(entry);
  }
}

function freeValue(v: unknown, depth: number): void {
  if (depth > MAX_FREE_FORM_DEPTH) throw REFERENCE;
  room(10);
  switch (typeof v) {
    case "boolean":
      out[at++] = BOOL_VALUE;
      out[at++] = v ? 1 : 0;
      return;
    case "number":
      if (!Number.isFinite(v)) throw REFERENCE;
      out[at++] = NUMBER_VALUE;
      out.writeDoubleLE(v, at);
      at += 8;
      return;
    case "string":
      out[at++] = STRING_VALUE;
      if (!string(v) && !v.isWellFormed()) throw REFERENCE;
      return;
    case "object": {
      if (v === null) {
        out[at++] = NULL_VALUE;
        out[at++] = 0;
        return;
      }
      if (Array.isArray(v)) {
        out[at++] = LIST_VALUE;
        const list = fork();
        for (let i = 0; i < v.length; i++) {
          room(1);
          out[at++] = LIST_ITEM;
          const item = fork();
          freeValue(v[i], depth + 1);
          join(item);
        }
        join(list);
        return;
      }
      out[at++] = STRUCT_VALUE;
      const inner = fork();
      struct(v as Record<string, unknown>, depth);
      join(inner);
      return;
    }
    default:
      throw REFERENCE; // JSON.parse makes nothing else
  }
}

/** The LogEntry of an events-layout line: the entry kind the reference path stores it as, around the event. */
function logEntry(type: ArchiveEventType, plan: EventPlan, json: Record<string, unknown>): void {
  const info = ENTRY_KINDS[EVENT_TYPES[type].entryKind];
  room(2);
  out[at++] = (info.number << 3) | WIRE_LEN;
  const entry = fork();
  // Without the log's fields, the only wrapper field written is a session end's session_id (its event's own).
  if (type === "SessionEndEvent") {
    const sessionId = json.session_id;
    if (typeof sessionId !== "string") throw REFERENCE;
    if (sessionId !== "") {
      room(1);
      out[at++] = (1 << 3) | WIRE_LEN;
      if (!string(sessionId) && !sessionId.isWellFormed()) throw REFERENCE;
    }
  }
  room(1);
  out[at++] = (info.eventNumber << 3) | WIRE_LEN;
  const event = fork();
  subtype = undefined;
  message(plan.plan, json, plan);
  join(event);
  join(entry);
}

/** How import numbers its records: shared by the fast path and the reference path, so they number on from each other. */
export interface SegmentSequencer {
  /** The last sequence written (0: none yet, and the next frame starts the segment); a number while exact. */
  last: bigint | number;
}

/**
 * Import's fast path into a segment: each events-layout line it takes is
 * written as its frame (the segment header first, before the first frame),
 * numbered on from `sequencer`, and counted; take() hands over the frames
 * written since the last take.
 */
export function segmentEncoder(sequencer: SegmentSequencer): FastPath {
  let own: Buffer = EMPTY;
  let written = 0;
  let count = 0;
  return {
    line(value, tally: SummaryBuilder) {
      if (!isObject(value) || Object.hasOwn(value, "entry")) return false; // a records line: the reference path
      const type = recogniseEventType(value);
      const plan = type && eventPlan(type);
      if (!type || !plan) return false;
      const last = sequencer.last;
      const sequence = (typeof last === "number" ? last : Number(last)) + 1;
      if (!Number.isSafeInteger(sequence)) return false; // past 2^53: the reference path numbers it
      out = own;
      at = written;
      try {
        if (sequence === 1) {
          // A segment starts with its header, which names its first record.
          room(SEGMENT_HEADER_BYTES);
          at += encodeSegmentHeader(BigInt(sequence)).copy(out, at);
        }
        room(HEADER_BYTES);
        const frame = at;
        at += HEADER_BYTES;
        logEntry(type, plan, value);
        const length = at - frame - HEADER_BYTES;
        uint32(length, frame);
        uint32(0, frame + 4); // a group of one
        uint32(sequence >>> 0, frame + 8);
        uint32(Math.floor(sequence / 2 ** 32), frame + 12);
        // A short payload's CRC in JavaScript: no view to make, no native call.
        uint32(
          length <= JS_CRC_BYTES
            ? crc32Of(out, frame + HEADER_BYTES, at)
            : crc32(out.subarray(frame + HEADER_BYTES, at)),
          frame + 16,
        );
        uint32(crc32Of(out, frame, frame + 20), frame + 20);
        tally.counted(type, timeSeconds, timeNanos, subtype, undefined);
        sequencer.last = sequence;
        written = at;
        count++;
        return true;
      } catch (e) {
        if (e === REFERENCE) return false;
        throw e;
      } finally {
        own = out;
        out = EMPTY;
      }
    },
    take(): FastOutput {
      const taken = { bytes: own.subarray(0, written), count };
      own = EMPTY; // the buffer taken is the caller's now
      written = 0;
      count = 0;
      return taken;
    },
    get pending() {
      return written > 0;
    },
  };
}
