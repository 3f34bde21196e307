/**
 * A second, independent protobuf codec: google-protobuf's BinaryReader and
 * BinaryWriter, driven by the descriptors buf builds from proto/. It shares no
 * code with ts-proto's generated encoders, so agreement between the two is
 * evidence of wire compatibility.
 *
 * Messages are plain objects keyed by proto field names (snake_case); repeated
 * fields are arrays; int64s are bigints.
 */
import jspb from "google-protobuf";
import { protoMessage, type FieldDescriptor } from "./repo.js";

const { BinaryReader, BinaryWriter } = jspb;
type Obj = Record<string, unknown>;
type Reader = InstanceType<typeof BinaryReader>;
type Writer = InstanceType<typeof BinaryWriter>;

export function jspbDecode(typeName: string, bytes: Uint8Array): Obj {
  return readMessage(typeName, new BinaryReader(bytes));
}

export function jspbEncode(typeName: string, message: Obj): Uint8Array {
  const writer = new BinaryWriter();
  writeMessage(typeName, message, writer);
  return writer.getResultBuffer();
}

function fieldsOf(typeName: string): FieldDescriptor[] {
  return protoMessage(typeName).descriptor.field ?? [];
}

function readMessage(typeName: string, reader: Reader): Obj {
  const byNumber = new Map(fieldsOf(typeName).map((f) => [f.number, f]));
  const out: Obj = {};
  while (reader.nextField()) {
    if (reader.isEndGroup()) break;
    const field = byNumber.get(reader.getFieldNumber());
    if (!field) {
      reader.skipField();
      continue;
    }
    const value = readValue(field, reader);
    if (field.label === "LABEL_REPEATED") ((out[field.name] ??= []) as unknown[]).push(value);
    else out[field.name] = value;
  }
  return out;
}

function readValue(field: FieldDescriptor, reader: Reader): unknown {
  switch (field.type) {
    case "TYPE_STRING":
      return reader.readString();
    case "TYPE_INT32":
      return reader.readInt32();
    case "TYPE_UINT32":
      return reader.readUint32();
    case "TYPE_INT64":
      return BigInt(reader.readInt64String());
    case "TYPE_UINT64":
      return BigInt(reader.readUint64String());
    case "TYPE_DOUBLE":
      return reader.readDouble();
    case "TYPE_BOOL":
      return reader.readBool();
    case "TYPE_ENUM":
      return reader.readEnum();
    case "TYPE_MESSAGE": {
      let value: Obj = {};
      reader.readMessage({}, (_: unknown, r: Reader) => {
        value = readMessage(field.typeName!, r);
      });
      return value;
    }
    default:
      throw new Error(`jspb codec: unsupported field type ${field.type}`);
  }
}

function writeMessage(typeName: string, message: Obj, writer: Writer): void {
  for (const field of fieldsOf(typeName)) {
    const value = message[field.name];
    if (value === undefined) continue;
    const values = field.label === "LABEL_REPEATED" ? (value as unknown[]) : [value];
    const explicit = field.proto3Optional === true || field.oneofIndex !== undefined || field.type === "TYPE_MESSAGE";
    for (const v of values) {
      if (!explicit && field.label !== "LABEL_REPEATED" && isDefault(v)) continue; // proto3 implicit presence
      writeValue(field, v, writer);
    }
  }
}

function isDefault(v: unknown): boolean {
  return v === "" || v === 0 || v === 0n || v === false;
}

function writeValue(field: FieldDescriptor, v: unknown, writer: Writer): void {
  const n = field.number;
  switch (field.type) {
    case "TYPE_STRING":
      return void writer.writeString(n, v as string);
    case "TYPE_INT32":
      return void writer.writeInt32(n, v as number);
    case "TYPE_UINT32":
      return void writer.writeUint32(n, v as number);
    case "TYPE_INT64":
      return void writer.writeInt64String(n, String(v));
    case "TYPE_UINT64":
      return void writer.writeUint64String(n, String(v));
    case "TYPE_DOUBLE":
      return void writer.writeDouble(n, v as number);
    case "TYPE_BOOL":
      return void writer.writeBool(n, v as boolean);
    case "TYPE_ENUM":
      return void writer.writeEnum(n, v as number);
    case "TYPE_MESSAGE":
      return void writer.writeMessage(n, v as Obj, (m: Obj, w: Writer) => writeMessage(field.typeName!, m, w));
    default:
      throw new Error(`jspb codec: unsupported field type ${field.type}`);
  }
}

// --- google.protobuf.Struct as plain JSON, written independently ---------------

type JsonLike = null | boolean | number | string | JsonLike[] | { [k: string]: JsonLike };

export function structToJson(struct: Obj): { [k: string]: JsonLike } {
  const out: { [k: string]: JsonLike } = {};
  for (const entry of (struct.fields ?? []) as Obj[]) {
    // Map entries omit default keys on the wire: an absent key is "".
    Object.defineProperty(out, (entry.key ?? "") as string, {
      value: valueToJson((entry.value ?? {}) as Obj),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function valueToJson(v: Obj): JsonLike {
  if ("null_value" in v) return null;
  if ("number_value" in v) return v.number_value as number;
  if ("string_value" in v) return v.string_value as string;
  if ("bool_value" in v) return v.bool_value as boolean;
  if ("struct_value" in v) return structToJson(v.struct_value as Obj);
  if ("list_value" in v) return (((v.list_value as Obj).values ?? []) as Obj[]).map(valueToJson);
  throw new Error("Value with no kind");
}

export function jsonToStruct(json: { [k: string]: JsonLike }): Obj {
  return { fields: Object.entries(json).map(([key, value]) => ({ key, value: jsonToValue(value) })) };
}

function jsonToValue(v: JsonLike): Obj {
  if (v === null) return { null_value: 0 };
  if (typeof v === "number") return { number_value: v };
  if (typeof v === "string") return { string_value: v };
  if (typeof v === "boolean") return { bool_value: v };
  if (Array.isArray(v)) return { list_value: { values: v.map(jsonToValue) } };
  return { struct_value: jsonToStruct(v) };
}
