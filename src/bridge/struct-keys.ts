/**
 * Finding a Struct key "__proto__" in protobuf bytes, before the generated
 * decoder sees them.
 *
 * ts-proto turns a Struct into a plain object with `object[key] = value`. For
 * the key "__proto__" that assignment replaces the object's prototype (an
 * object value, which the validator then catches) or is silently ignored (a
 * primitive value): the key would vanish. So bytes that could carry one are
 * read here first, precisely, along the message's Struct fields.
 */
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { pointerSegment } from "../contract/errors.js";
import type { MessageMapping } from "./mapping.js";

const KEY = "__proto__";
// The key's bytes appear in any message that carries it, however its tag and
// length are encoded: a cheap test that rules out almost every message at once.
const KEY_BYTES = Buffer.from(KEY);

/** JSON Pointers of the Struct fields that carry a "__proto__" key, if any. */
export function findProtoKeys(mapping: MessageMapping, bytes: Uint8Array): string[] {
  if (!Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes(KEY_BYTES)) return [];
  const found: string[] = [];
  scanMessage(mapping, bytes, "", found);
  return found;
}

function scanMessage(mapping: MessageMapping, bytes: Uint8Array, path: string, found: string[]): void {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [number, wireType] = reader.tag();
    const field = mapping.fields.find((f) => f.number === number);
    if (wireType !== WireType.LengthDelimited || !field || (field.kind !== "struct" && field.kind !== "message")) {
      reader.skip(wireType);
      continue;
    }
    const inner = reader.bytes();
    const at = `${path}/${field.json}`;
    if (field.kind === "struct") scanStruct(inner, at, found, 0);
    else scanMessage(field.message!, inner, at, found);
  }
}

// google.protobuf.Struct { map<string, Value> fields = 1; }  (entry: key = 1, value = 2)
// google.protobuf.Value  { ... Struct struct_value = 5; ListValue list_value = 6; }
// google.protobuf.ListValue { repeated Value values = 1; }
const MAX_DEPTH = 100;

function scanStruct(bytes: Uint8Array, path: string, found: string[], depth: number): void {
  if (depth > MAX_DEPTH) return; // deeper is refused after decoding anyway (the max_depth rule)
  eachField(bytes, (number, entry) => {
    if (number !== 1) return;
    let key = "";
    let value: Uint8Array | undefined;
    eachField(entry, (n, data) => {
      if (n === 1) key = new TextDecoder().decode(data);
      if (n === 2) value = data;
    });
    if (key === KEY) found.push(`${path}/${KEY}`);
    if (value) scanValue(value, `${path}/${pointerSegment(key)}`, found, depth + 1);
  });
}

function scanValue(bytes: Uint8Array, path: string, found: string[], depth: number): void {
  eachField(bytes, (number, data) => {
    if (number === 5) scanStruct(data, path, found, depth + 1);
    if (number === 6) {
      let i = 0;
      eachField(data, (n, item) => {
        if (n === 1) scanValue(item, `${path}/${i++}`, found, depth + 1);
      });
    }
  });
}

/** Calls `visit` for each length-delimited field; skips the rest. */
function eachField(bytes: Uint8Array, visit: (number: number, data: Uint8Array) => void): void {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [number, wireType] = reader.tag();
    if (wireType === WireType.LengthDelimited) visit(number, reader.bytes());
    else reader.skip(wireType);
  }
}
