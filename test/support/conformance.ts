/**
 * Compares three descriptions of each contract type, field by field:
 * the proto descriptor (from buf), the JSON Schema, and the bridge's mapping.
 * Returns every difference as a sentence; an empty list means they agree.
 */
import type { MessageMapping, FieldKind } from "../../src/bridge/mapping.js";
import { protoMessage, type FieldDescriptor, type ResolvedMessage } from "./repo.js";

// biome-ignore lint/suspicious/noExplicitAny: a JSON Schema read at any depth
export type Schema = Record<string, any>;

/** Fields that exist on one side only, on purpose, each with its reason. */
export interface Exception {
  readonly message: string;
  readonly field: string;
  readonly reason: string;
}

const LIMIT_KEYWORDS = ["maxLength", "minLength", "minimum", "maximum", "pattern", "format", "const"] as const;

/** The value range of each protobuf integer type. */
const INT_RANGES: Record<string, [bigint, bigint]> = {
  TYPE_INT32: [-(2n ** 31n), 2n ** 31n - 1n],
  TYPE_SINT32: [-(2n ** 31n), 2n ** 31n - 1n],
  TYPE_UINT32: [0n, 2n ** 32n - 1n],
  TYPE_INT64: [-(2n ** 63n), 2n ** 63n - 1n],
  TYPE_UINT64: [0n, 2n ** 64n - 1n],
};

export function compareContract(
  mapping: MessageMapping,
  schemaDoc: Schema,
  message: ResolvedMessage,
  exceptions: readonly Exception[] = [],
): string[] {
  const problems: string[] = [];
  const where = (field: string) => `${mapping.name}.${field}`;
  const excepted = (field: string) => exceptions.some((e) => e.message === mapping.name && e.field === field);

  if (message.fullName !== `.${mapping.protoName}`)
    problems.push(`${mapping.name}: mapping names ${mapping.protoName}, descriptor is ${message.fullName}`);
  if (schemaDoc.title !== mapping.name) problems.push(`${mapping.name}: schema title is ${schemaDoc.title}`);

  const schemaProps: Record<string, Schema> = schemaDoc.properties ?? {};
  const required = new Set<string>(schemaDoc.required ?? []);
  const protoFields = new Map((message.descriptor.field ?? []).map((f) => [f.name, f]));
  const mapped = new Map(mapping.fields.map((f) => [f.json, f]));

  const names = new Set([...Object.keys(schemaProps), ...protoFields.keys(), ...mapped.keys()]);
  for (const name of names) {
    const inSchema = Object.hasOwn(schemaProps, name);
    const proto = protoFields.get(name);
    const map = mapped.get(name);
    if (!inSchema || !proto || !map) {
      if (excepted(name) && proto && map) continue;
      const sides = [inSchema && "schema", proto && "proto", map && "bridge mapping"].filter(Boolean).join(", ");
      problems.push(`${where(name)}: exists only in ${sides}`);
      continue;
    }
    const prop = resolve(schemaProps[name]!, schemaDoc);
    const expectedKind = kindOf(prop, schemaProps[name]!);
    const protoKind = protoKindOf(proto);
    if (expectedKind !== protoKind)
      problems.push(`${where(name)}: schema type means ${expectedKind}, proto field is ${protoKind}`);
    if (map.kind !== protoKind)
      problems.push(`${where(name)}: bridge maps it as ${map.kind}, proto field is ${protoKind}`);
    if (map.number !== proto.number)
      problems.push(`${where(name)}: bridge says field number ${map.number}, proto says ${proto.number}`);
    if (map.proto !== proto.jsonName)
      problems.push(`${where(name)}: bridge uses property ${map.proto}, generated code uses ${proto.jsonName}`);
    if (proto.label === "LABEL_REPEATED") problems.push(`${where(name)}: repeated in proto, the schema has no arrays`);
    if (protoKind === "message") {
      const ref = String(schemaProps[name]!.$ref ?? "")
        .split("/")
        .pop();
      const target = proto.typeName?.split(".").pop();
      if (ref !== target || map.message?.name !== target)
        problems.push(`${where(name)}: schema $ref ${ref}, proto type ${target}, mapping ${map.message?.name}`);
      else if (map.message) {
        // The nested type as this schema's $defs has it, checked the same way.
        const nested = { ...prop, title: target, $defs: schemaDoc.$defs };
        problems.push(
          ...compareContract(map.message, nested, protoMessage(proto.typeName!), exceptions).map(
            (p) => `${where(name)} -> ${p}`,
          ),
        );
      }
    }
    // Required-ness: a scalar that JSON may omit needs presence on the wire.
    const isScalar = protoKind === "string" || protoKind === "int32" || protoKind === "int64";
    if (isScalar) {
      const hasPresence = proto.proto3Optional === true;
      if (required.has(name) === hasPresence) {
        problems.push(
          `${where(name)}: ${required.has(name) ? "required in schema but optional" : "optional in schema but has no presence"} in proto`,
        );
      }
      if (Boolean(map.optional) !== hasPresence)
        problems.push(`${where(name)}: bridge optional=${Boolean(map.optional)}, proto3 optional=${hasPresence}`);
    }
    // Limits: the proto field's "Limits:" comment states the schema's limits.
    const schemaLimits = limitsOf(prop);
    const protoLimits = parseLimits(message.fieldComments.get(name));
    if (JSON.stringify(sortKeys(schemaLimits)) !== JSON.stringify(sortKeys(protoLimits))) {
      problems.push(
        `${where(name)}: schema limits ${JSON.stringify(schemaLimits)}, proto states ${JSON.stringify(protoLimits)}`,
      );
    }
    const range = INT_RANGES[proto.type];
    if (range && typeof prop.minimum === "number" && BigInt(prop.minimum) < range[0])
      problems.push(`${where(name)}: minimum below ${proto.type}'s range`);
    if (range && typeof prop.maximum === "number" && BigInt(prop.maximum) > range[1])
      problems.push(`${where(name)}: maximum above ${proto.type}'s range`);
    if (range && (prop.minimum === undefined || prop.maximum === undefined) && protoKind !== "int64") {
      problems.push(`${where(name)}: integer without both bounds may not fit ${proto.type}`);
    }
  }
  return problems;
}

function resolve(prop: Schema, root: Schema): Schema {
  if (typeof prop.$ref !== "string") return prop;
  return root.$defs?.[prop.$ref.split("/").pop()!] ?? {};
}

function kindOf(prop: Schema, raw: Schema): FieldKind | string {
  if (raw.$ref) return "message";
  switch (prop.type) {
    case "string":
      return prop.format === "date-time" ? "timestamp" : "string";
    case "integer":
      return typeof prop.maximum === "number" && prop.maximum <= 2 ** 31 - 1 ? "int32" : "int64";
    case "object":
      return prop.additionalProperties === true ? "struct" : "message";
    default:
      return `unmapped schema type ${prop.type}`;
  }
}

function protoKindOf(f: FieldDescriptor): FieldKind | string {
  switch (f.type) {
    case "TYPE_STRING":
      return "string";
    case "TYPE_INT32":
      return "int32";
    case "TYPE_INT64":
      return "int64";
    case "TYPE_MESSAGE":
      if (f.typeName === ".google.protobuf.Timestamp") return "timestamp";
      if (f.typeName === ".google.protobuf.Struct") return "struct";
      return "message";
    default:
      return `unmapped proto type ${f.type}`;
  }
}

function limitsOf(prop: Schema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of LIMIT_KEYWORDS)
    if (prop[k] !== undefined && !(k === "format" && prop[k] === "date-time")) out[k] = prop[k];
  return out;
}

function parseLimits(comment: string | undefined): Record<string, unknown> {
  const line = comment?.split("\n").find((l) => l.trim().startsWith("Limits:"));
  return line ? (JSON.parse(line.trim().slice("Limits:".length)) as Record<string, unknown>) : {};
}

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}
