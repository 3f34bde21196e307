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
 * For the server's requests (DecodeOptions.lazyStructs) a Struct is not built
 * at all at first: its bytes are checked against every free-form rule and
 * kept, validation takes them as checked, the encoder writes them back as
 * they came, and the object is built only if something reads it. Building an
 * object of tens of thousands of keys is what a large event costs, whatever
 * decodes it; most events are stored and answered without anyone reading it.
 *
 * Depth: ts-proto refuses input nested past 100 messages, counted from the
 * outermost message it is given, so where the limit fell for `metadata`
 * depended on what carried the event (32 levels inside a request, 33 alone)
 * and the error named no field. Here nesting is counted as the contract
 * counts it (MAX_FREE_FORM_DEPTH, shape.ts), whatever carries the event.
 */
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { Timestamp } from "../../gen/google/protobuf/timestamp.js";
import { isUtf8 } from "node:buffer";
import { ValidationError, pointerSegment, type ValidationIssue } from "../contract/errors.js";
import { MAX_FREE_FORM_DEPTH, forbiddenKeyMessage, maxDepthMessage, nonFiniteMessage } from "../contract/shape.js";
import type { FieldMapping, MessageMapping } from "./mapping.js";
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
} from "./struct-wire.js";

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
   * Check free-form fields (metadata, details) on their bytes, against every
   * rule contract/shape.ts holds them to, and build their objects only when
   * they are first read. For the server's requests: most large events are
   * validated, stored and answered without anyone reading their free-form
   * content, and building a JavaScript object of tens of thousands of keys
   * is most of what such an event costs. See `lazyStructOf`.
   */
  readonly lazyStructs?: boolean;
  /**
   * With lazyStructs: Structs smaller than this are built at once (default
   * 4096 bytes). Deferring costs a getter and a WeakMap entry, which only a
   * large Struct pays back.
   */
  readonly lazyStructMinBytes?: number;
}

/**
 * Decode `bytes` as the message `mapping` describes. Throws a ValidationError
 * (rule "protobuf" for bytes that are not a message of this type, or
 * "forbidden_key" / "max_depth" with the field's path; with lazyStructs also
 * "json_value").
 */
export function decodeMessage<M>(mapping: MessageMapping, bytes: Uint8Array, options: DecodeOptions = {}): M {
  const reader = new BinaryReader(bytes, decodeUtf8Strictly);
  try {
    const lazy =
      options.lazyStructs === true
        ? { from: bytes, minBytes: options.lazyStructMinBytes ?? LAZY_STRUCT_MIN_BYTES }
        : undefined;
    return readMessage(compile(mapping), reader, reader.len, "", lazy) as M;
  } catch (e) {
    if (e instanceof DecodeIssue) throw new ValidationError(mapping.name, [e.issue]);
    throw new ValidationError(mapping.name, [
      { path: "", rule: "protobuf", message: `malformed protobuf: ${e instanceof Error ? e.message : String(e)}` },
    ]);
  }
}

/** `lazy`: the bytes being decoded, when Structs of `minBytes` or more are to be checked on their bytes and built on first read. */
function readMessage(
  c: Compiled,
  reader: BinaryReader,
  end: number,
  path: string,
  lazy: { from: Uint8Array; minBytes: number } | undefined,
): Message {
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
          message[field.proto] = readMessage(
            compile(field.message!),
            reader,
            lengthEnd(reader),
            `${path}/${field.json}`,
            lazy,
          );
          break;
        case "struct": {
          const structEnd = lengthEnd(reader);
          const start = reader.pos;
          const lazyFrom = lazy && structEnd - start >= lazy.minBytes ? lazy.from : undefined;
          if (lazyFrom && structEnd <= reader.len && checkStruct(lazyFrom, start, structEnd, `${path}/${field.json}`)) {
            // A stored event must not keep much more than itself alive: a view of the
            // request's memory when the Struct is most of it, a copy of its own otherwise.
            const most = (structEnd - start) * 2 >= lazyFrom.buffer.byteLength;
            defineLazyStruct(message, field.proto, {
              bytes: most ? lazyFrom.subarray(start, structEnd) : lazyFrom.slice(start, structEnd),
              value: undefined,
            });
            reader.pos = structEnd;
          } else {
            message[field.proto] = readStruct(reader, structEnd, `${path}/${field.json}`, 1); // (a lazy one before it is replaced)
          }
          break;
        }
      }
      continue;
    }
    if ((tag & 7) === WIRE_END_GROUP || tag === 0) break;
    reader.skip(tag & 7);
  }
  return message;
}

/** Structs smaller than this are built at once; larger ones are checked on their bytes and built when read. */
const LAZY_STRUCT_MIN_BYTES = 4096;

/** Reads a length prefix; returns where the length-delimited value ends. */
function lengthEnd(reader: BinaryReader): number {
  const length = reader.uint32();
  return reader.pos + length;
}

/**
 * A Struct as its plain object (what ts-proto's Struct.unwrap gives). `depth`
 * is the object's own level (the field itself is 1); `path` is its JSON
 * Pointer, extended only when a problem is reported.
 */
function readStruct(reader: BinaryReader, end: number, path: string, depth: number): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag === FIELDS_ENTRY) {
      const entryEnd = lengthEnd(reader);
      let key = "";
      let value: unknown;
      while (reader.pos < entryEnd) {
        const t = reader.uint32();
        if (t === ENTRY_KEY) key = reader.string();
        else if (t === ENTRY_VALUE) value = readValue(reader, lengthEnd(reader), path, key, depth + 1);
        else if ((t & 7) === WIRE_END_GROUP || t === 0) break;
        else reader.skip(t & 7);
      }
      if (key === "__proto__") {
        // `object[key] = value` would replace the prototype (or do nothing): the key would vanish.
        throw new DecodeIssue({
          path: `${path}/__proto__`,
          rule: "forbidden_key",
          message: forbiddenKeyMessage("__proto__"),
        });
      }
      if (value !== undefined) object[key] = value;
      continue;
    }
    if ((tag & 7) === WIRE_END_GROUP || tag === 0) break;
    reader.skip(tag & 7);
  }
  return object;
}

/** A Value as its JSON value (undefined when it holds none), at `depth`; `key` is its place in the parent at `parentPath`. */
function readValue(
  reader: BinaryReader,
  end: number,
  parentPath: string,
  key: string | number,
  depth: number,
): unknown {
  if (depth > MAX_FREE_FORM_DEPTH && end > reader.pos) {
    throw new DecodeIssue({
      path: `${parentPath}/${pointerSegment(key)}`,
      rule: "max_depth",
      message: maxDepthMessage(),
    });
  }
  let value: unknown;
  while (reader.pos < end) {
    const tag = reader.uint32();
    switch (tag) {
      case NULL_VALUE:
        reader.int32();
        value = null;
        continue;
      case NUMBER_VALUE:
        value = reader.double();
        continue;
      case STRING_VALUE:
        value = reader.string();
        continue;
      case BOOL_VALUE:
        value = reader.bool();
        continue;
      case STRUCT_VALUE:
        value = readStruct(reader, lengthEnd(reader), `${parentPath}/${pointerSegment(key)}`, depth);
        continue;
      case LIST_VALUE:
        value = readList(reader, lengthEnd(reader), `${parentPath}/${pointerSegment(key)}`, depth);
        continue;
    }
    if ((tag & 7) === WIRE_END_GROUP || tag === 0) break;
    reader.skip(tag & 7);
  }
  return value;
}

function readList(reader: BinaryReader, end: number, path: string, depth: number): unknown[] {
  const values: unknown[] = [];
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag === LIST_ITEM) {
      values.push(readValue(reader, lengthEnd(reader), path, values.length, depth + 1));
      continue;
    }
    if ((tag & 7) === WIRE_END_GROUP || tag === 0) break;
    reader.skip(tag & 7);
  }
  return values;
}

// ---------------------------------------------------------------------------
// Structs checked on their bytes, built on first read

/** A free-form field held as its bytes until it is first read. */
export interface LazyStruct {
  /** The Struct's bytes: checked, and what any decoder reads as `value` (let go once it is built). */
  bytes: Uint8Array | undefined;
  /** The object, once built (then shared by every holder of this LazyStruct). */
  value: Record<string, unknown> | undefined;
}

/** Holders (messages, contract JSON objects) of lazily built Structs, by property. */
const lazyStructs = new WeakMap<object, Record<string, LazyStruct>>();

/**
 * Define `holder[property]` as `lazy`: an enumerable property whose object is
 * built when first read (the same object for every holder that shares the
 * LazyStruct); assigning to it replaces it as with any property.
 */
export function defineLazyStruct(holder: object, property: string, lazy: LazyStruct): void {
  let held = lazyStructs.get(holder);
  if (!held) lazyStructs.set(holder, (held = Object.create(null) as Record<string, LazyStruct>));
  held[property] = lazy;
  Object.defineProperty(holder, property, {
    enumerable: true,
    configurable: true,
    get: () => {
      if (lazy.value === undefined) {
        lazy.value = buildStruct(lazy.bytes!);
        lazy.bytes = undefined; // the object is what it is now: its bytes would only hold memory
      }
      return lazy.value;
    },
    set(value: unknown) {
      delete held![property];
      Object.defineProperty(holder, property, { value, writable: true, enumerable: true, configurable: true });
    },
  });
}

/** `holder[property]` as a LazyStruct whose object nobody has read yet (so its bytes are still all it is), if it is one. */
export function unreadLazyStruct(holder: object, property: string): (LazyStruct & { bytes: Uint8Array }) | undefined {
  const lazy = lazyStructs.get(holder)?.[property];
  return lazy && lazy.value === undefined && lazy.bytes ? (lazy as LazyStruct & { bytes: Uint8Array }) : undefined;
}

function buildStruct(bytes: Uint8Array): Record<string, unknown> {
  const reader = new BinaryReader(bytes, decodeUtf8Strictly);
  return readStruct(reader, reader.len, "", 1);
}

/**
 * Check a Struct's bytes against the free-form rules without building it.
 * Returns true when the bytes are plain (every entry a key and a Value,
 * every Value one of its six kinds, nothing else): then any protobuf decoder
 * reads them as the same JSON, and that JSON keeps every rule. Returns false
 * for anything unusual (unknown fields, an empty Value, a null_value other
 * than 0...), which the generated code's rules then decide (the caller
 * decodes it the ordinary way, and validation walks the result). Throws a
 * DecodeIssue (or an Error, for bad UTF-8) for a broken rule.
 */
function checkStruct(bytes: Uint8Array, start: number, end: number, path: string): boolean {
  const check: StructCheck = {
    bytes,
    view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    pos: start,
    segments: [path],
  };
  return checkStructAt(check, end, 1);
}

interface StructCheck {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  pos: number;
  /** The path down to the Struct or list being checked: the field's path, then keys or indexes (built only for an issue). */
  readonly segments: (string | number | [number, number])[];
}

/** A varint of at most 32 bits (lengths and tags); -1 when it is not one. */
function varint32(c: StructCheck): number {
  const b = c.bytes;
  let result = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (c.pos >= b.length) return -1;
    const byte = b[c.pos++]!;
    result += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return result > 0xffffffff ? -1 : result;
  }
  return -1;
}

/** Skips a varint; false when it runs out of bytes or is too long. */
function skipVarint(c: StructCheck): boolean {
  for (let i = 0; i < 10; i++) {
    if (c.pos >= c.bytes.length) return false;
    if (c.bytes[c.pos++]! < 0x80) return true;
  }
  return false;
}

const PROTO = Buffer.from("__proto__");
const CONSTRUCTOR = Buffer.from("constructor");
const PROTOTYPE = Buffer.from("prototype");

function sameBytes(b: Uint8Array, start: number, end: number, word: Uint8Array): boolean {
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) if (b[start + i] !== word[i]) return false;
  return true;
}

/** Valid UTF-8 (a key or a string), like the strict decoder: ASCII is checked here, the rest natively. */
function isUtf8At(b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (b[i]! >= 0x80) return isUtf8(b.subarray(start, end));
  return true;
}

function issuePath(c: StructCheck, last: string | number | [number, number]): string {
  const segment = (s: string | number | [number, number]) =>
    typeof s === "string" || typeof s === "number"
      ? pointerSegment(s)
      : pointerSegment(strictUtf8.decode(c.bytes.subarray(s[0], s[1])));
  const [field, ...rest] = c.segments;
  return [field as string, ...rest.map(segment), segment(last)].join("/");
}

function checkStructAt(c: StructCheck, end: number, depth: number): boolean {
  const b = c.bytes;
  while (c.pos < end) {
    if (b[c.pos++] !== FIELDS_ENTRY) return false;
    const length = varint32(c);
    if (length < 0 || c.pos + length > end) return false;
    const entryEnd = c.pos + length;
    let keyStart = c.pos;
    let keyEnd = c.pos; // no key field: the key is ""
    if (b[c.pos] === ENTRY_KEY) {
      c.pos++;
      const keyLength = varint32(c);
      if (keyLength < 0 || c.pos + keyLength > entryEnd) return false;
      keyStart = c.pos;
      keyEnd = c.pos += keyLength;
      if (!isUtf8At(b, keyStart, keyEnd)) throw new Error("The encoded data was not valid for encoding utf-8");
      const k = keyEnd - keyStart;
      if (
        (k === 9 || k === 11) &&
        (sameBytes(b, keyStart, keyEnd, PROTO) ||
          sameBytes(b, keyStart, keyEnd, CONSTRUCTOR) ||
          sameBytes(b, keyStart, keyEnd, PROTOTYPE))
      ) {
        const key = strictUtf8.decode(b.subarray(keyStart, keyEnd));
        throw new DecodeIssue({ path: issuePath(c, key), rule: "forbidden_key", message: forbiddenKeyMessage(key) });
      }
    }
    if (c.pos >= entryEnd || b[c.pos++] !== ENTRY_VALUE) return false;
    const valueLength = varint32(c);
    if (valueLength < 0 || c.pos + valueLength !== entryEnd) return false;
    if (!checkValueAt(c, entryEnd, depth + 1, [keyStart, keyEnd])) return false;
  }
  return c.pos === end;
}

function checkValueAt(c: StructCheck, end: number, depth: number, at: string | number | [number, number]): boolean {
  if (depth > MAX_FREE_FORM_DEPTH)
    throw new DecodeIssue({ path: issuePath(c, at), rule: "max_depth", message: maxDepthMessage() });
  const b = c.bytes;
  if (c.pos >= end) return false; // an empty Value: no kind
  const tag = b[c.pos++];
  switch (tag) {
    case NULL_VALUE:
      if (b[c.pos++] !== 0) return false;
      break;
    case NUMBER_VALUE: {
      if (c.pos + 8 > end) return false;
      const n = c.view.getFloat64(c.pos, true);
      c.pos += 8;
      if (!Number.isFinite(n))
        throw new DecodeIssue({ path: issuePath(c, at), rule: "json_value", message: nonFiniteMessage(n) });
      break;
    }
    case STRING_VALUE: {
      const length = varint32(c);
      if (length < 0 || c.pos + length > end) return false;
      if (!isUtf8At(b, c.pos, c.pos + length)) throw new Error("The encoded data was not valid for encoding utf-8");
      c.pos += length;
      break;
    }
    case BOOL_VALUE:
      if (!skipVarint(c)) return false;
      break;
    case STRUCT_VALUE:
    case LIST_VALUE: {
      const length = varint32(c);
      if (length < 0 || c.pos + length !== end) return false;
      c.segments.push(at);
      const ok = tag === STRUCT_VALUE ? checkStructAt(c, end, depth) : checkListAt(c, end, depth);
      c.segments.pop();
      if (!ok) return false;
      break;
    }
    default:
      return false;
  }
  return c.pos === end; // exactly one kind
}

function checkListAt(c: StructCheck, end: number, depth: number): boolean {
  const b = c.bytes;
  let index = 0;
  while (c.pos < end) {
    if (b[c.pos++] !== LIST_ITEM) return false;
    const length = varint32(c);
    if (length < 0 || c.pos + length > end) return false;
    if (!checkValueAt(c, c.pos + length, depth + 1, index++)) return false;
  }
  return c.pos === end;
}

// ---------------------------------------------------------------------------
// Encoding

/**
 * The bytes of a top-level message, as encodeMessage writes them, in one
 * allocation of the exact size: what a writer would grow into (copying as it
 * doubles) is here written in pieces, and an unread lazily held Struct's bytes
 * are copied once, into the result.
 */
export function encodeMessageBytes(mapping: MessageMapping, message: object): Uint8Array {
  const chunks = encodeMessageChunks(mapping, message);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/** The same bytes as encodeMessageBytes, in pieces (a large unread Struct's bytes as they are), for a caller that frames them itself. */
export function encodeMessageChunks(mapping: MessageMapping, message: object): Uint8Array[] {
  const m = message as Message;
  const chunks: Uint8Array[] = [];
  let writer = new BinaryWriter();
  for (const field of compile(mapping).encodeOrder) {
    const lazy = field.kind === "struct" ? unreadLazyStruct(m, field.proto) : undefined;
    if (lazy) {
      chunks.push(writer.uint32(tagOf(field)).uint32(lazy.bytes.length).finish(), lazy.bytes);
      writer = new BinaryWriter();
    } else {
      encodeFields(m, [field], writer);
    }
  }
  chunks.push(writer.finish());
  return chunks;
}

/**
 * The bytes ts-proto's `encode` writes for `message` (a message of the type
 * `mapping` describes, whose free-form fields hold JSON: the contract has
 * been checked). Throws as ts-proto does on an int64 out of range or a
 * free-form value that is not JSON.
 */
export function encodeMessage(
  mapping: MessageMapping,
  message: object,
  writer: BinaryWriter = new BinaryWriter(),
): BinaryWriter {
  return encodeFields(message as Message, compile(mapping).encodeOrder, writer);
}

function encodeFields(m: Message, fields: readonly FieldMapping[], writer: BinaryWriter): BinaryWriter {
  for (const field of fields) {
    const tag = tagOf(field);
    if (field.kind === "struct") {
      // Unread, a lazily held Struct is its checked bytes: written as they are, never built.
      const lazy = unreadLazyStruct(m, field.proto);
      if (lazy) {
        writer.uint32(tag).bytes(lazy.bytes);
        continue;
      }
    }
    const value = m[field.proto];
    switch (field.kind) {
      case "string":
        if (field.optional ? value !== undefined : value !== "") writer.uint32(tag).string(value as string);
        break;
      case "int32":
        if (value !== 0) writer.uint32(tag).int32(value as number);
        break;
      case "int64":
        if (value !== 0n) {
          if (BigInt.asIntN(64, value as bigint) !== value)
            throw new Error(`value provided for field message.${field.proto} of type int64 too large`);
          writer.uint32(tag).int64(value as bigint);
        }
        break;
      case "uint64":
        if (value !== 0n) {
          if (BigInt.asUintN(64, value as bigint) !== value)
            throw new Error(`value provided for field message.${field.proto} of type uint64 too large`);
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
        if (value !== undefined) writer.uint32(tag).bytes(structBytes(value as Record<string, unknown>, false));
        break;
    }
  }
  return writer;
}

/**
 * A Struct's bytes, in two passes: sizes first (every nested length, and each
 * object's keys, in the order the second pass needs them: a large object's
 * keys are the costly part to list), then one write into a buffer of the
 * exact size. Same bytes as Struct.encode(Struct.wrap(object)).
 */
export function encodeStruct(object: Record<string, unknown>): Uint8Array {
  return structBytes(object, true);
}

/**
 * The same bytes, in a scratch buffer reused from call to call, for a caller
 * that copies them at once (encodeFields, into its writer): a fresh buffer and
 * DataView for every small Struct were a visible part of a VRP event's cost.
 */
function structBytes(object: Record<string, unknown>, fresh: boolean): Uint8Array {
  sizes.length = 0;
  keyLists.length = 0;
  try {
    const length = structSize(object);
    let out: Uint8Array;
    let view: DataView;
    if (fresh || length > MAX_SCRATCH_BYTES) {
      out = new Uint8Array(length);
      view = new DataView(out.buffer);
    } else {
      if (scratch.length < length) {
        scratch = new Uint8Array(Math.min(MAX_SCRATCH_BYTES, Math.max(length, scratch.length * 2)));
        scratchView = new DataView(scratch.buffer);
      }
      out = scratch;
      view = scratchView;
    }
    cursor = 0;
    keyCursor = 0;
    pos = 0;
    writeStruct(out, view, object);
    if (pos !== length) throw new Error(`Struct encoding wrote ${pos} bytes of ${length}`);
    return out === scratch ? scratch.subarray(0, length) : out;
  } finally {
    keyLists.length = 0; // hold no keys between calls
  }
}

/** Larger Structs get a buffer of their own: the scratch buffer is kept for good, so it stays small. */
const MAX_SCRATCH_BYTES = 64 * 1024;
let scratch = new Uint8Array(1024);
let scratchView = new DataView(scratch.buffer);

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
    walkStructs(compile(mapping), reader, reader.len, "");
  } catch (e) {
    if (e instanceof DecodeIssue) return e.issue;
  }
  return undefined;
}

function walkStructs(c: Compiled, reader: BinaryReader, end: number, path: string): void {
  while (reader.pos < end) {
    const tag = reader.uint32();
    const field = c.byTag.get(tag);
    if (field?.kind === "struct") readStruct(reader, lengthEnd(reader), `${path}/${field.json}`, 1);
    else if (field?.kind === "message")
      walkStructs(compile(field.message!), reader, lengthEnd(reader), `${path}/${field.json}`);
    else if ((tag & 7) === WIRE_END_GROUP || tag === 0) break;
    else reader.skip(tag & 7);
  }
}
