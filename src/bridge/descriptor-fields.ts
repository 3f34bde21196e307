/**
 * Field mappings read from the descriptor set (gen/descriptors.binpb) instead
 * of kept by hand: how a protobuf field of a plain kind is carried (its number,
 * its .proto name as the JSON name, its ts-proto property, its kind).
 */
import { ScalarType, type DescField } from "@bufbuild/protobuf";
import { messageDescriptor } from "../descriptors.js";
import type { FieldKind, FieldMapping } from "./mapping.js";

const SCALAR_KINDS: Partial<Record<ScalarType, FieldKind>> = {
  [ScalarType.STRING]: "string",
  [ScalarType.INT32]: "int32",
  [ScalarType.INT64]: "int64",
  [ScalarType.UINT64]: "uint64",
};
const MESSAGE_KINDS: Readonly<Record<string, FieldKind>> = {
  "google.protobuf.Timestamp": "timestamp",
  "google.protobuf.Struct": "struct",
};

/** A field's kind as the bridge names it; undefined for what the bridge does not carry (repeated, maps, enums, other scalars). */
export function fieldKindOf(field: DescField): FieldKind | undefined {
  if (field.fieldKind === "scalar") return SCALAR_KINDS[field.scalar];
  if (field.fieldKind === "message") return MESSAGE_KINDS[field.message.typeName] ?? "message";
  return undefined;
}

/**
 * The fields of `protoName` other than `except` (field numbers), as plain
 * mappings; undefined when one of them is not a plain scalar (then no caller
 * may treat the list as complete).
 */
export function scalarFieldMappings(protoName: string, except: readonly number[] = []): FieldMapping[] | undefined {
  const out: FieldMapping[] = [];
  for (const field of messageDescriptor(protoName).fields) {
    if (except.includes(field.number)) continue;
    const kind = field.fieldKind === "scalar" ? SCALAR_KINDS[field.scalar] : undefined;
    if (!kind) return undefined;
    out.push({
      number: field.number,
      json: field.name,
      proto: field.localName,
      kind,
      ...(field.proto.proto3Optional ? { optional: true } : {}),
    });
  }
  return out;
}
