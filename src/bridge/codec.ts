/**
 * A strict protobuf codec for the contract messages, driven by their
 * MessageMappings: decoding checks what ts-proto's generated decoder cannot
 * (bad UTF-8, a Struct key "__proto__", nesting past MAX_FREE_FORM_DEPTH),
 * each named by the path of the field, in the same single pass; encoding
 * writes exactly the bytes ts-proto writes.
 *
 * Why not the generated code: a google.protobuf.Struct of many keys is where
 * an event's time goes, and ts-proto's Struct decoder allocates a map entry,
 * a Value and a oneof object per key, keeps a Map and then copies it into an
 * object, and its encoder wraps every value again and forks the writer twice
 * per key. Here a Struct becomes its plain object directly (and back), which
 * takes half the time or less. Everything else in a message (strings,
 * integers, Timestamps) is read and written with the same BinaryReader and
 * BinaryWriter calls as the generated code, in the same order, with the same
 * treatment of unknown fields, wrong wire types, repeated fields (the last
 * wins, a message field is replaced rather than merged) and group ends; the
 * tests compare the two codecs on generated events and on mutated bytes.
 *
 * Depth: ts-proto refuses input nested past 100 messages, counted from the
 * outermost message it is given, so where the limit fell for `metadata`
 * depended on what carried the event (32 levels inside a request, 33 alone)
 * and the error named no field. Here nesting is counted as the contract
 * counts it (MAX_FREE_FORM_DEPTH, shape.ts), whatever carries the event.
 */
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { Timestamp } from "../../gen/google/protobuf/timestamp.js";
import { ValidationError, pointerSegment, type ValidationIssue } from "../contract/errors.js";
import {
  FORBIDDEN_KEYS,
  MAX_FREE_FORM_DEPTH,
  forbiddenKeyMessage,
  markSealedFreeForm,
  maxDepthMessage,
  nonFiniteMessage,
  notJsonMessage,
} from "../contract/shape.js";
import type { FieldMapping, MessageMapping } from "./mapping.js";

type Message = Record<string, unknown>;

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
/** For BinaryReader: invalid UTF-8 throws rather than becoming U+FFFD. */
export const decodeUtf8Strictly = (bytes: Uint8Array) => strictUtf8.decode(bytes);

/** A problem found while decoding, with its path: not "malformed protobuf", but a contract rule. */
class DecodeIssue extends Error {
  constructor(readonly issue: ValidationIssue) {
    super(issue.message);
  }
}

const WIRE_VARINT = 0;
const WIRE_BIT64 = 1;
const WIRE_LEN = 2;
const WIRE_END_GROUP = 4;

/** The tag ts-proto's decoder accepts for a field (any other wire type is skipped as unknown). */
function tagOf(field: FieldMapping): number {
  switch (field.kind) {
    case "int32":
    case "int64":
    case "uint64":
      return (field.number << 3) | WIRE_VARINT;
    default:
      return (field.number << 3) | WIRE_LEN;
  }
}

interface Compiled {
  readonly mapping: MessageMapping;
  /** Fields by tag. */
  readonly byTag: ReadonlyMap<number, FieldMapping>;
  /** Fields in the order ts-proto writes them (declaration order, which is number order here). */
  readonly encodeOrder: readonly FieldMapping[];
}

const compiled = new WeakMap<MessageMapping, Compiled>();
function compile(mapping: MessageMapping): Compiled {
  let c = compiled.get(mapping);
  if (!c) {
    c = {
      mapping,
      byTag: new Map(mapping.fields.map((f) => [tagOf(f), f])),
      encodeOrder: [...mapping.fields].sort((a, b) => a.number - b.number),
    };
    compiled.set(mapping, c);
  }
  return c;
}

/** A message with every field at its default, as ts-proto's createBase builds it. */
function base(mapping: MessageMapping): Message {
  const message: Message = {};
  for (const f of mapping.fields) {
    switch (f.kind) {
      case "string":
        message[f.proto] = f.optional ? undefined : "";
        break;
      case "int32":
        message[f.proto] = 0;
        break;
      case "int64":
      case "uint64":
        message[f.proto] = 0n;
        break;
      default:
        message[f.proto] = undefined;
    }
  }
  return message;
}

export interface DecodeOptions {
  /**
   * Also hold every free-form value to the contract's rules while reading
   * (finite numbers, JSON values only, no "constructor" / "prototype" keys:
   * with strict UTF-8, the depth limit and "__proto__", everything
   * contract/shape.ts checks), freeze what was built, and mark it checked so
   * that validation does not walk it again. A Struct whose bytes are exactly
   * what encodeStruct would write for it keeps them, and its first encoding
   * copies them instead of walking the object. For the server's requests,
   * whose free-form objects are large and go straight to validation.
   */
  readonly seal?: boolean;
}

/**
 * Decode `bytes` as the message `mapping` describes. Throws a ValidationError
 * (rule "protobuf" for bytes that are not a message of this type, or
 * "forbidden_key" / "max_depth" with the field's path; sealing adds
 * "json_value").
 */
export function decodeMessage<M>(mapping: MessageMapping, bytes: Uint8Array, options: DecodeOptions = {}): M {
  const reader = new BinaryReader(bytes, decodeUtf8Strictly);
  try {
    return readMessage(compile(mapping), reader, reader.len, "", { seal: options.seal === true, bytes }) as M;
  } catch (e) {
    if (e instanceof DecodeIssue) throw new ValidationError(mapping.name, [e.issue]);
    throw new ValidationError(mapping.name, [{ path: "", rule: "protobuf", message: `malformed protobuf: ${e instanceof Error ? e.message : String(e)}` }]);
  }
}

/** What every Struct of one decoding shares: whether to seal, and the bytes being read. */
interface Source {
  readonly seal: boolean;
  readonly bytes: Uint8Array;
}

function readMessage(c: Compiled, reader: BinaryReader, end: number, path: string, source: Source): Message {
  const message = base(c.mapping);
  while (reader.pos < end) {
    const tag = reader.uint32();
    const field = c.byTag.get(tag);
    if (field) {
      switch (field.kind) {
        case "string":
          message[field.proto] = reader.string();
          break;
        case "int32":
          message[field.proto] = reader.int32();
          break;
        case "int64":
          message[field.proto] = reader.int64();
          break;
        case "uint64":
          message[field.proto] = reader.uint64();
          break;
        case "timestamp":
          message[field.proto] = Timestamp.decode(reader, reader.uint32());
          break;
        case "message":
          message[field.proto] = readMessage(compile(field.message!), reader, lengthEnd(reader), `${path}/${field.json}`, source);
          break;
        case "struct":
          message[field.proto] = readStructField(reader, `${path}/${field.json}`, source);
          break;
      }
      continue;
    }
    if ((tag & 7) === WIRE_END_GROUP || tag === 0) break;
    reader.skip(tag & 7);
  }
  return message;
}

/** Reads a length prefix; returns where the length-delimited value ends. */
function lengthEnd(reader: BinaryReader): number {
  const length = reader.uint32();
  return reader.pos + length;
}

// google.protobuf.Struct  { map<string, Value> fields = 1; }   (entry: string key = 1; Value value = 2)
// google.protobuf.Value   { NullValue null_value = 1; double number_value = 2; string string_value = 3;
//                           bool bool_value = 4; Struct struct_value = 5; ListValue list_value = 6; }
// google.protobuf.ListValue { repeated Value values = 1; }
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

/**
 * How one decoding goes. `seal`: see DecodeOptions. `canonical`: so far, the
 * bytes read are exactly what encodeStruct writes for what was built (every
 * length a shortest varint, fields in the writer's order and nothing else,
 * no key twice, no key that JavaScript would enumerate first).
 */
interface Reading {
  readonly seal: boolean;
  readonly bytes: Uint8Array;
  canonical: boolean;
}

/** The bytes of sealed Structs that are exactly their encoding, until their first encoding takes them. */
const encodedBytes = new WeakMap<object, Uint8Array>();

function readStructField(reader: BinaryReader, path: string, source: Source): Record<string, unknown> {
  const length = reader.uint32();
  const start = reader.pos;
  const reading: Reading = { seal: source.seal, bytes: source.bytes, canonical: source.seal };
  const object = readStruct(reader, start + length, path, 1, reading);
  if (source.seal) {
    markSealedFreeForm(object);
    if (reading.canonical && reader.pos === start + length) encodedBytes.set(object, source.bytes.subarray(start, reader.pos));
  }
  return object;
}

/** Reads a string, noting whether its length was written in the fewest bytes. */
function readString(reader: BinaryReader, reading: Reading): string {
  if (reading.canonical) {
    const at = reader.pos;
    const length = reader.uint32();
    if (reader.pos - at !== varintSize(length)) reading.canonical = false;
    reader.pos = at;
  }
  return reader.string();
}

/** Reads a length prefix, noting whether it was written in the fewest bytes; returns where the value ends. */
function readEnd(reader: BinaryReader, reading: Reading): number {
  const at = reader.pos;
  const length = reader.uint32();
  if (reading.canonical && reader.pos - at !== varintSize(length)) reading.canonical = false;
  return reader.pos + length;
}

/**
 * A Struct as its plain object (what ts-proto's Struct.unwrap gives). `depth`
 * is the object's own level (the field itself is 1); `path` is its JSON
 * Pointer, extended only when a problem is reported.
 */
function readStruct(reader: BinaryReader, end: number, path: string, depth: number, reading: Reading): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag === FIELDS_ENTRY) {
      const entryEnd = readEnd(reader, reading);
      let key = "";
      let value: unknown;
      let fields = 0; // canonical: the key (unless ""), then the value, once each
      while (reader.pos < entryEnd) {
        const t = reader.uint32();
        if (t === ENTRY_KEY && fields === 0) {
          key = readString(reader, reading);
          if (key === "") reading.canonical = false; // the writer leaves an empty key out
          fields = 1;
        } else if (t === ENTRY_VALUE && fields < 2) {
          value = readValue(reader, readEnd(reader, reading), path, key, depth + 1, reading);
          fields = 2;
        } else {
          reading.canonical = false;
          if (t === ENTRY_KEY) key = reader.string();
          else if (t === ENTRY_VALUE) value = readValue(reader, lengthEnd(reader), path, key, depth + 1, reading);
          else if ((t & 7) === WIRE_END_GROUP || t === 0) break;
          else reader.skip(t & 7);
        }
      }
      if (key === "__proto__") {
        // `object[key] = value` would replace the prototype (or do nothing): the key would vanish.
        throw new DecodeIssue({ path: `${path}/__proto__`, rule: "forbidden_key", message: forbiddenKeyMessage("__proto__") });
      }
      if (reading.seal) {
        if (FORBIDDEN_KEYS.has(key)) throw new DecodeIssue({ path: `${path}/${pointerSegment(key)}`, rule: "forbidden_key", message: forbiddenKeyMessage(key) });
        if (reading.canonical && (fields !== 2 || Object.hasOwn(object, key) || isArrayIndex(key))) reading.canonical = false;
      }
      if (value !== undefined) object[key] = value;
      continue;
    }
    reading.canonical = false;
    if ((tag & 7) === WIRE_END_GROUP || tag === 0) break;
    reader.skip(tag & 7);
  }
  if (reading.seal) Object.freeze(object);
  return object;
}

/** A key JavaScript enumerates before the others, in numeric order (an array index). */
function isArrayIndex(key: string): boolean {
  const c = key.charCodeAt(0);
  if (c < 48 || c > 57 || key.length > 10) return false;
  return String(Number(key)) === key && Number(key) < 4294967295;
}

/** A Value as its JSON value (undefined when it holds none), at `depth`; `key` is its place in the parent at `parentPath`. */
function readValue(reader: BinaryReader, end: number, parentPath: string, key: string | number, depth: number, reading: Reading): unknown {
  if (depth > MAX_FREE_FORM_DEPTH && (end > reader.pos || reading.seal)) {
    throw new DecodeIssue({ path: `${parentPath}/${pointerSegment(key)}`, rule: "max_depth", message: maxDepthMessage() });
  }
  let value: unknown;
  let kinds = 0;
  while (reader.pos < end) {
    const tag = reader.uint32();
    kinds++;
    switch (tag) {
      case NULL_VALUE:
        if (reader.int32() !== 0) reading.canonical = false;
        value = null;
        continue;
      case NUMBER_VALUE:
        value = reader.double();
        continue;
      case STRING_VALUE:
        value = readString(reader, reading);
        continue;
      case BOOL_VALUE: {
        const at = reader.pos;
        value = reader.bool();
        if (reader.pos - at !== 1 || reading.bytes[at]! > 1) reading.canonical = false;
        continue;
      }
      case STRUCT_VALUE:
        value = readStruct(reader, readEnd(reader, reading), `${parentPath}/${pointerSegment(key)}`, depth, reading);
        continue;
      case LIST_VALUE:
        value = readList(reader, readEnd(reader, reading), `${parentPath}/${pointerSegment(key)}`, depth, reading);
        continue;
    }
    reading.canonical = false;
    if ((tag & 7) === WIRE_END_GROUP || tag === 0) break;
    reader.skip(tag & 7);
  }
  if (kinds !== 1) reading.canonical = false;
  if (reading.seal) {
    if (value === undefined) throw new DecodeIssue({ path: `${parentPath}/${pointerSegment(key)}`, rule: "json_value", message: notJsonMessage("undefined") });
    if (typeof value === "number" && !Number.isFinite(value)) {
      throw new DecodeIssue({ path: `${parentPath}/${pointerSegment(key)}`, rule: "json_value", message: nonFiniteMessage(value) });
    }
  }
  return value;
}

function readList(reader: BinaryReader, end: number, path: string, depth: number, reading: Reading): unknown[] {
  const values: unknown[] = [];
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag === LIST_ITEM) {
      values.push(readValue(reader, readEnd(reader, reading), path, values.length, depth + 1, reading));
      continue;
    }
    reading.canonical = false;
    if ((tag & 7) === WIRE_END_GROUP || tag === 0) break;
    reader.skip(tag & 7);
  }
  if (reading.seal) Object.freeze(values);
  return values;
}

// ---------------------------------------------------------------------------
// Encoding

/**
 * The bytes ts-proto's `encode` writes for `message` (a message of the type
 * `mapping` describes, whose free-form fields hold JSON: the contract has
 * been checked). Throws as ts-proto does on an int64 out of range or a
 * free-form value that is not JSON.
 */
export function encodeMessage(mapping: MessageMapping, message: object, writer: BinaryWriter = new BinaryWriter()): BinaryWriter {
  const m = message as Message;
  for (const field of compile(mapping).encodeOrder) {
    const value = m[field.proto];
    const tag = tagOf(field);
    switch (field.kind) {
      case "string":
        if (field.optional ? value !== undefined : value !== "") writer.uint32(tag).string(value as string);
        break;
      case "int32":
        if (value !== 0) writer.uint32(tag).int32(value as number);
        break;
      case "int64":
        if (value !== 0n) {
          if (BigInt.asIntN(64, value as bigint) !== value) throw new Error(`value provided for field message.${field.proto} of type int64 too large`);
          writer.uint32(tag).int64(value as bigint);
        }
        break;
      case "uint64":
        if (value !== 0n) {
          if (BigInt.asUintN(64, value as bigint) !== value) throw new Error(`value provided for field message.${field.proto} of type uint64 too large`);
          writer.uint32(tag).uint64(value as bigint);
        }
        break;
      case "timestamp":
        if (value !== undefined) Timestamp.encode(value as Timestamp, writer.uint32(tag).fork()).join();
        break;
      case "message":
        if (value !== undefined) encodeMessage(field.message!, value as object, writer.uint32(tag).fork()).join();
        break;
      case "struct":
        if (value !== undefined) writer.uint32(tag).bytes(encodeStruct(value as Record<string, unknown>));
        break;
    }
  }
  return writer;
}

/**
 * A Struct's bytes, in two passes: sizes first (every nested length, and each
 * object's keys, in the order the second pass needs them: a large object's
 * keys are the costly part to list), then one write into a buffer of the
 * exact size. Same bytes as Struct.encode(Struct.wrap(object)). A sealed
 * Struct decoded from exactly these bytes gives them back (once; the result
 * may be a view of the bytes it was decoded from).
 */
export function encodeStruct(object: Record<string, unknown>): Uint8Array {
  const known = encodedBytes.get(object);
  if (known) {
    encodedBytes.delete(object); // one use: an event is encoded once, and a stored one should not keep its request alive
    return known;
  }
  sizes.length = 0;
  keyLists.length = 0;
  try {
    const length = structSize(object);
    const out = new Uint8Array(length);
    const view = new DataView(out.buffer);
    cursor = 0;
    keyCursor = 0;
    pos = 0;
    writeStruct(out, view, object);
    if (pos !== length) throw new Error(`Struct encoding wrote ${pos} bytes of ${length}`);
    return out;
  } finally {
    keyLists.length = 0; // hold no keys between calls
  }
}

// Encoding is synchronous: one set of scratch state serves every call.
const sizes: number[] = [];
const keyLists: string[][] = [];
let cursor = 0;
let keyCursor = 0;
let pos = 0;

const varintSize = (n: number) => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5);
const lengthDelimited = (n: number) => varintSize(n) + n;

function utf8Length(s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s, "utf8");
  return n;
}

function structSize(object: Record<string, unknown>): number {
  const keys = Object.keys(object);
  keyLists.push(keys);
  let size = 0;
  for (const key of keys) {
    const value = object[key];
    if (value === undefined) continue;
    const at = sizes.length;
    sizes.push(0, 0); // the entry's length, then its value's
    const keyLength = utf8Length(key);
    const valueLength = valueSize(value);
    const entry = (keyLength === 0 ? 0 : 1 + lengthDelimited(keyLength)) + 1 + lengthDelimited(valueLength);
    sizes[at] = entry;
    sizes[at + 1] = valueLength;
    size += 1 + lengthDelimited(entry);
  }
  return size;
}

/** A Value's encoded size (without its own tag and length). */
function valueSize(value: unknown): number {
  switch (typeof value) {
    case "number":
      return 9;
    case "boolean":
      return 2;
    case "string":
      return 1 + lengthDelimited(utf8Length(value));
    case "undefined":
      return 0; // a list item that holds nothing: an empty Value, as Value.wrap(undefined) writes
    case "object": {
      if (value === null) return 2;
      const at = sizes.length;
      sizes.push(0);
      const inner = Array.isArray(value) ? listSize(value) : structSize(value as Record<string, unknown>);
      sizes[at] = inner;
      return 1 + lengthDelimited(inner);
    }
    default:
      throw new Error(`Unsupported any value type: ${typeof value}`);
  }
}

function listSize(values: readonly unknown[]): number {
  let size = 0;
  for (const item of values) {
    const at = sizes.length;
    sizes.push(0);
    const length = valueSize(item);
    sizes[at] = length;
    size += 1 + lengthDelimited(length);
  }
  return size;
}

function writeVarint(out: Uint8Array, n: number): void {
  while (n > 0x7f) {
    out[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  out[pos++] = n;
}

function writeString(out: Uint8Array, s: string, length: number): void {
  writeVarint(out, length);
  if (length === s.length) {
    for (let i = 0; i < length; i++) out[pos++] = s.charCodeAt(i);
  } else {
    pos += Buffer.from(out.buffer, out.byteOffset, out.byteLength).write(s, pos, length, "utf8");
  }
}

function writeStruct(out: Uint8Array, view: DataView, object: Record<string, unknown>): void {
  for (const key of keyLists[keyCursor++]!) {
    const value = object[key];
    if (value === undefined) continue;
    const entry = sizes[cursor++]!;
    const valueLength = sizes[cursor++]!;
    out[pos++] = FIELDS_ENTRY;
    writeVarint(out, entry);
    if (key !== "") {
      out[pos++] = ENTRY_KEY;
      writeString(out, key, utf8Length(key));
    }
    out[pos++] = ENTRY_VALUE;
    writeVarint(out, valueLength);
    writeValue(out, view, value);
  }
}

function writeValue(out: Uint8Array, view: DataView, value: unknown): void {
  switch (typeof value) {
    case "number":
      out[pos++] = NUMBER_VALUE;
      view.setFloat64(pos, value, true);
      pos += 8;
      return;
    case "boolean":
      out[pos++] = BOOL_VALUE;
      out[pos++] = value ? 1 : 0;
      return;
    case "string":
      out[pos++] = STRING_VALUE;
      writeString(out, value, utf8Length(value));
      return;
    case "undefined":
      return;
    case "object": {
      if (value === null) {
        out[pos++] = NULL_VALUE;
        out[pos++] = 0;
        return;
      }
      const inner = sizes[cursor++]!;
      if (Array.isArray(value)) {
        out[pos++] = LIST_VALUE;
        writeVarint(out, inner);
        for (const item of value) {
          out[pos++] = LIST_ITEM;
          writeVarint(out, sizes[cursor++]!);
          writeValue(out, view, item);
        }
      } else {
        out[pos++] = STRUCT_VALUE;
        writeVarint(out, inner);
        writeStruct(out, view, value as Record<string, unknown>);
      }
      return;
    }
  }
}

// ---------------------------------------------------------------------------
// Checking the Structs of a message the generated code decodes

/**
 * The first problem in the Structs of `bytes` (a message of which `mapping`
 * describes the path to each Struct field; other fields are skipped): a
 * "__proto__" key or nesting past MAX_FREE_FORM_DEPTH, with its path; or
 * undefined. For messages decoded by ts-proto (a LogEntry, say), whose
 * Structs are checked the same way as decodeMessage checks them.
 */
export function findStructProblem(mapping: MessageMapping, bytes: Uint8Array): ValidationIssue | undefined {
  const reader = new BinaryReader(bytes, decodeUtf8Strictly);
  try {
    walkStructs(compile(mapping), reader, reader.len, "", bytes);
  } catch (e) {
    if (e instanceof DecodeIssue) return e.issue;
  }
  return undefined;
}

function walkStructs(c: Compiled, reader: BinaryReader, end: number, path: string, bytes: Uint8Array): void {
  while (reader.pos < end) {
    const tag = reader.uint32();
    const field = c.byTag.get(tag);
    if (field?.kind === "struct") readStruct(reader, lengthEnd(reader), `${path}/${field.json}`, 1, { seal: false, bytes, canonical: false });
    else if (field?.kind === "message") walkStructs(compile(field.message!), reader, lengthEnd(reader), `${path}/${field.json}`, bytes);
    else if ((tag & 7) === WIRE_END_GROUP || tag === 0) break;
    else reader.skip(tag & 7);
  }
}
