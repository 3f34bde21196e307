/**
 * What the fast paths of export (transcode.ts: protobuf bytes -> JSON) and
 * import (json-encode.ts: parsed JSON -> protobuf bytes) know of each
 * contract message: its fields, their wire tags, the order each side writes
 * them in, and what the contract asks of each value, all derived from the
 * tables the reference path uses (the field mappings, the contracts' JSON
 * Schemas and version policies, the validator's string formats).
 *
 * A schema keyword this file does not know makes its type unplannable
 * (undefined): that type then always takes the reference path, so a schema
 * change can never make a fast path check less.
 */
import { contracts } from "../contract/contracts.js";
import { CONTRACT_FORMATS, type JsonSchema } from "../contract/validate.js";
import type { FieldMapping, MessageMapping } from "../bridge/mapping.js";
import { WIRE_LEN, WIRE_VARINT } from "../bridge/struct-wire.js";
import { EVENT_TYPES, type ArchiveEventType } from "./event.js";

export const K_STRING = 0;
export const K_INT32 = 1;
export const K_INT64 = 2;
export const K_TIMESTAMP = 3;
export const K_STRUCT = 4;
export const K_MESSAGE = 5;
const KIND_CODE: Readonly<Record<string, number>> = {
  string: K_STRING,
  int32: K_INT32,
  int64: K_INT64,
  timestamp: K_TIMESTAMP,
  struct: K_STRUCT,
  message: K_MESSAGE,
};

export type TextCheck = (text: string) => boolean;
export type NumberCheck = (n: number) => boolean;

export interface FieldPlan {
  readonly kind: number;
  readonly index: number;
  /** Its name in the contract JSON. */
  readonly json: string;
  /** The tag ts-proto writes it with (and the only one the reference decoder reads it by). */
  readonly tag: number;
  readonly optional: boolean;
  readonly required: boolean;
  /** The bytes of `"name":`, and of `,"name":`. */
  readonly key: Buffer;
  readonly commaKey: Buffer;
  /** String lengths in code points (JSON Schema's count), when the schema bounds them. */
  readonly minLength: number;
  readonly maxLength: number;
  /** Checks of the string's text (pattern, format, const, enum, version): the text is built only for these. */
  readonly textChecks: readonly TextCheck[];
  readonly numberChecks: readonly NumberCheck[];
  readonly message?: MessagePlan;
}

export interface MessagePlan {
  /** Field plans by wire tag (only the wire type the reference decoder reads). */
  readonly byTag: readonly (FieldPlan | undefined)[];
  /** In the order the reference JSON has them (the mapping's). */
  readonly fields: readonly FieldPlan[];
  /** In the order ts-proto writes them (field number). */
  readonly encodeOrder: readonly FieldPlan[];
  /** The contract's order is the field numbers' (so the bytes the encoders write can be read in one pass). */
  readonly wireOrdered: boolean;
  /** Scratch, per field: where its value lies, or its number, and whether this pass saw it. */
  readonly start: number[];
  readonly end: number[];
  readonly seen: number[];
  /** Per field: the last few ASCII texts that passed its checks (a value that repeats is not checked again). */
  readonly passed: string[][];
}

const ANNOTATIONS = new Set([
  "description",
  "examples",
  "default",
  "title",
  "$comment",
  "$schema",
  "event_version",
  "schema_version",
  "$defs",
]);
const SCHEMA_TYPE: Readonly<Record<string, string>> = {
  string: "string",
  int32: "integer",
  int64: "integer",
  timestamp: "string",
  struct: "object",
  message: "object",
};

function resolve(node: JsonSchema, root: JsonSchema): JsonSchema {
  const ref = node.$ref;
  if (typeof ref !== "string") return node;
  return (root.$defs as Record<string, JsonSchema>)[ref.replace(/^#\/\$defs\//, "")]!;
}

interface ScalarRules {
  minLength: number;
  maxLength: number;
  textChecks: TextCheck[];
  numberChecks: NumberCheck[];
}

/** What a property's schema asks of a scalar; undefined when it says something this file does not check. */
function scalarRules(node: JsonSchema, kind: FieldMapping["kind"]): ScalarRules | undefined {
  const rules: ScalarRules = { minLength: 0, maxLength: Infinity, textChecks: [], numberChecks: [] };
  for (const [keyword, v] of Object.entries(node)) {
    if (ANNOTATIONS.has(keyword)) continue;
    switch (keyword) {
      case "type":
        if (v !== SCHEMA_TYPE[kind]) return undefined;
        break;
      case "minLength":
        rules.minLength = v as number;
        break;
      case "maxLength":
        rules.maxLength = v as number;
        break;
      case "pattern": {
        const re = new RegExp(v as string, "u"); // as ajv compiles it (unicodeRegExp)
        rules.textChecks.push((s) => re.test(s));
        break;
      }
      case "format": {
        const format = CONTRACT_FORMATS[v as string];
        if (!format) return undefined;
        // A Timestamp is written by formatTimestamp, which writes RFC 3339 or throws.
        if (!(kind === "timestamp" && v === "date-time")) rules.textChecks.push(format);
        break;
      }
      case "const":
        if (typeof v === "number") rules.numberChecks.push((x) => x === v);
        else rules.textChecks.push((x) => x === v);
        break;
      case "enum":
        rules.textChecks.push((x) => (v as unknown[]).includes(x));
        rules.numberChecks.push((x) => (v as unknown[]).includes(x));
        break;
      case "minimum":
        rules.numberChecks.push((x) => x >= (v as number));
        break;
      case "maximum":
        rules.numberChecks.push((x) => x <= (v as number));
        break;
      case "additionalProperties":
        if (kind !== "struct" || v !== true) return undefined;
        break;
      default:
        return undefined;
    }
  }
  if (kind === "timestamp" && (rules.minLength > 0 || rules.maxLength !== Infinity || rules.textChecks.length > 0))
    return undefined;
  return rules;
}

const OBJECT_KEYWORDS = new Set(["type", "properties", "required", "additionalProperties"]);

/** A plan for a message; undefined when its schema says something this file does not check. */
function planMessage(
  mapping: MessageMapping,
  node: JsonSchema,
  root: JsonSchema,
  version?: { field: string; expected: string },
): MessagePlan | undefined {
  for (const [keyword, v] of Object.entries(node)) {
    if (ANNOTATIONS.has(keyword)) continue;
    if (!OBJECT_KEYWORDS.has(keyword)) return undefined;
    if (keyword === "type" && v !== "object") return undefined;
  }
  const properties = (node.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((node.required ?? []) as string[]);
  if ([...required].some((name) => !mapping.fields.some((f) => f.json === name))) return undefined;
  const fields: FieldPlan[] = [];
  for (const [index, field] of mapping.fields.entries()) {
    const isVersion = version?.field === field.json;
    const property = properties[field.json];
    if (!property && !isVersion) return undefined; // a field the schema does not name: the reference path judges it
    const resolved = property ? resolve(property, root) : { type: "string" };
    let message: MessagePlan | undefined;
    let rules: ScalarRules | undefined = { minLength: 0, maxLength: Infinity, textChecks: [], numberChecks: [] };
    if (field.kind === "message") {
      message = planMessage(field.message!, resolved, root);
      if (!message) return undefined;
    } else if (field.kind in KIND_CODE) {
      rules = scalarRules(resolved, field.kind);
    } else rules = undefined;
    if (!rules) return undefined;
    if (isVersion) rules.textChecks.push((s) => s === version!.expected);
    fields.push({
      kind: KIND_CODE[field.kind]!,
      index,
      json: field.json,
      tag: (field.number << 3) | (field.kind === "int32" || field.kind === "int64" ? WIRE_VARINT : WIRE_LEN),
      optional: field.optional === true,
      required: required.has(field.json),
      key: Buffer.from(`${JSON.stringify(field.json)}:`),
      commaKey: Buffer.from(`,${JSON.stringify(field.json)}:`),
      ...rules,
      message,
    });
  }
  const byTag: (FieldPlan | undefined)[] = [];
  for (const field of fields) byTag[field.tag] = field;
  const encodeOrder = [...fields].sort((a, b) => (a.tag >>> 3) - (b.tag >>> 3));
  const n = fields.length;
  return {
    byTag,
    fields,
    encodeOrder,
    wireOrdered: fields.every((f, i) => f === encodeOrder[i]),
    start: new Array(n).fill(0),
    end: new Array(n).fill(0),
    seen: new Array(n).fill(0),
    passed: Array.from({ length: n }, () => []),
  };
}

/** Where an event type's own time and subtype are, for the summary. */
const SUMMARY_FIELDS: Readonly<Record<ArchiveEventType, { readonly time: string; readonly subtype?: string }>> = {
  SessionStartEvent: { time: "timestamp" },
  SessionEndEvent: { time: "timestamp" },
  VrpEvent: { time: "ts_ms", subtype: "event_type" },
};

export interface EventPlan {
  readonly type: ArchiveEventType;
  readonly plan: MessagePlan;
  readonly time: FieldPlan;
  readonly subtype: FieldPlan | undefined;
}

function planEvent(type: ArchiveEventType): EventPlan | undefined {
  const spec = contracts[type].spec;
  const mapping = EVENT_TYPES[type].mapping;
  // Several released versions: each event is judged by its own version's schema, which the
  // reference path does; the transcoder plans one schema, so it serves a single version only.
  const expected = spec.version?.expected;
  const single = typeof expected === "string" ? expected : expected?.length === 1 ? expected[0] : undefined;
  if (spec.version && single === undefined) return undefined;
  const plan = planMessage(
    mapping,
    spec.schema,
    spec.schema,
    spec.version && { field: spec.version.field, expected: single! },
  );
  if (!plan) return undefined;
  const named = (json: string | undefined) =>
    json === undefined ? undefined : plan.fields[mapping.fields.findIndex((f) => f.json === json)];
  const time = named(SUMMARY_FIELDS[type].time);
  if (!time) return undefined;
  return { type, plan, time, subtype: named(SUMMARY_FIELDS[type].subtype) };
}

const eventPlans = new Map<ArchiveEventType, EventPlan | undefined>();

/** An event type's plan (built once), or undefined when its schema says something the fast paths do not check. */
export function eventPlan(type: ArchiveEventType): EventPlan | undefined {
  if (!eventPlans.has(type)) eventPlans.set(type, planEvent(type));
  return eventPlans.get(type);
}
