/**
 * The JSON Schema half of the compatibility check: two versions of a
 * contract's schemas in, every change with its rule (rules.ts) out.
 *
 * It walks what the session contracts use: object properties, `required`,
 * `$defs`, `items`, `additionalProperties` and the constraint keywords of
 * CONSTRAINTS. An object without `additionalProperties: true` is closed here,
 * as the contract treats it (contract/shape.ts refuses a key it does not
 * name), so `additionalProperties` absent and `false` are the same.
 */
import { canonicalJson } from "../canonical.js";
import type { JsonSchema } from "../validate.js";
import { change, type Change } from "./rules.js";

type Schema = Record<string, unknown>;

/**
 * How each constraint keyword narrows what is valid:
 * - upper: a bound from above (lowering it or adding it tightens);
 * - lower: a bound from below (raising it or adding it tightens);
 * - set: an enumeration (a subset tightens, a superset loosens);
 * - exact: one value that cannot be compared (adding it tightens, removing it
 *   loosens, changing it is neither: a pattern's language is not ordered).
 */
const CONSTRAINTS: Readonly<Record<string, "upper" | "lower" | "set" | "exact">> = {
  maxLength: "upper",
  maximum: "upper",
  exclusiveMaximum: "upper",
  maxItems: "upper",
  maxProperties: "upper",
  minLength: "lower",
  minimum: "lower",
  exclusiveMinimum: "lower",
  minItems: "lower",
  minProperties: "lower",
  enum: "set",
  const: "exact",
  pattern: "exact",
  format: "exact",
  multipleOf: "exact",
};

/** Keywords with no effect on which values are valid. */
const ANNOTATIONS = new Set([
  "title",
  "description",
  "default",
  "examples",
  "$comment",
  "deprecated",
  "readOnly",
  "writeOnly",
  "$schema",
]);
/** The version headers: the verdict judges them, they are no change of their own. */
const VERSION_HEADERS = new Set(["event_version", "schema_version"]);
/** Keywords walked structurally below. */
const STRUCTURE = new Set(["type", "properties", "required", "$defs", "items", "additionalProperties", "$ref"]);

/** Every change from `before` to `after`, schema by schema (by contract type name). */
export function diffSchemaSets(
  before: Readonly<Record<string, JsonSchema>>,
  after: Readonly<Record<string, JsonSchema>>,
): Change[] {
  const changes: Change[] = [];
  for (const name of Object.keys(before)) {
    if (!Object.hasOwn(after, name))
      changes.push(change("json-schema", "schema_removed", name, `contract type ${name} was removed`));
    else diffSchema(before[name] as Schema, after[name] as Schema, name, "", changes);
  }
  for (const name of Object.keys(after)) {
    if (!Object.hasOwn(before, name))
      changes.push(change("json-schema", "schema_added", name, `contract type ${name} was added`));
  }
  return changes;
}

function diffSchema(a: Schema, b: Schema, name: string, pointer: string, out: Change[]): void {
  const where = `${name}#${pointer}`;
  const push = (rule: Parameters<typeof change>[1], message: string, keyword?: string) =>
    out.push(change("json-schema", rule, where, message, keyword));

  if (canonicalJson(typeOf(a)) !== canonicalJson(typeOf(b)) || a.$ref !== b.$ref) {
    push("type_changed", `type ${describeType(a)} became ${describeType(b)}`);
    return; // what lies below a changed type is not comparable
  }
  for (const [keyword, kind] of Object.entries(CONSTRAINTS)) {
    const verdict = compareConstraint(kind, a[keyword], b[keyword]);
    if (verdict)
      push(
        `constraint_${verdict}`,
        `${keyword} ${describeValue(a[keyword])} became ${describeValue(b[keyword])}`,
        keyword,
      );
  }
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (ANNOTATIONS.has(key) && canonicalJson(a[key]) !== canonicalJson(b[key]))
      push("annotation_changed", `${key} changed`, key);
    else if (
      !ANNOTATIONS.has(key) &&
      !VERSION_HEADERS.has(key) &&
      !STRUCTURE.has(key) &&
      !Object.hasOwn(CONSTRAINTS, key) &&
      canonicalJson(a[key]) !== canonicalJson(b[key])
    ) {
      push("constraint_changed", `keyword ${key} changed (not one this check can order)`, key);
    }
  }
  if (isObjectSchema(a) || isObjectSchema(b)) diffObject(a, b, name, pointer, out);
  diffDefinitions(a.$defs, b.$defs, name, `${pointer}/$defs`, out);
  if (isSchema(a.items) && isSchema(b.items)) diffSchema(a.items, b.items, name, `${pointer}/items`, out);
}

function diffObject(a: Schema, b: Schema, name: string, pointer: string, out: Change[]): void {
  const where = (p: string) => `${name}#${p}`;
  const before = (a.properties ?? {}) as Record<string, Schema>;
  const after = (b.properties ?? {}) as Record<string, Schema>;
  const requiredBefore = new Set((a.required ?? []) as string[]);
  const requiredAfter = new Set((b.required ?? []) as string[]);
  const removed = Object.keys(before).filter((k) => !Object.hasOwn(after, k));
  const added = Object.keys(after).filter((k) => !Object.hasOwn(before, k));

  for (const key of removed) {
    // A removed property and an added one of the same schema: a rename.
    const to = added.find((k) => sameShape(before[key]!, after[k]!));
    if (to !== undefined) {
      added.splice(added.indexOf(to), 1);
      out.push(
        change(
          "json-schema",
          "property_renamed",
          where(`${pointer}/properties/${key}`),
          `property "${key}" was renamed to "${to}"`,
        ),
      );
    } else {
      out.push(
        change(
          "json-schema",
          "property_removed",
          where(`${pointer}/properties/${key}`),
          `property "${key}" was removed`,
        ),
      );
    }
  }
  for (const key of added) {
    const rule = requiredAfter.has(key) ? "property_added_required" : "property_added_optional";
    out.push(
      change(
        "json-schema",
        rule,
        where(`${pointer}/properties/${key}`),
        `${requiredAfter.has(key) ? "required" : "optional"} property "${key}" was added`,
      ),
    );
  }
  for (const key of Object.keys(before)) {
    if (!Object.hasOwn(after, key)) continue;
    const p = `${pointer}/properties/${key}`;
    if (requiredBefore.has(key) && !requiredAfter.has(key))
      out.push(change("json-schema", "required_to_optional", where(p), `property "${key}" is no longer required`));
    if (!requiredBefore.has(key) && requiredAfter.has(key))
      out.push(change("json-schema", "optional_to_required", where(p), `property "${key}" is now required`));
    diffSchema(before[key]!, after[key]!, name, p, out);
  }
  // A name in `required` with no property schema (SessionEndEvent's event_version is such a key elsewhere).
  for (const key of requiredAfter)
    if (!requiredBefore.has(key) && !Object.hasOwn(after, key))
      out.push(change("json-schema", "optional_to_required", where(`${pointer}/required`), `"${key}" is now required`));
  for (const key of requiredBefore)
    if (!requiredAfter.has(key) && !Object.hasOwn(before, key))
      out.push(
        change("json-schema", "required_to_optional", where(`${pointer}/required`), `"${key}" is no longer required`),
      );

  const openBefore = openness(a.additionalProperties);
  const openAfter = openness(b.additionalProperties);
  if (openBefore !== openAfter) {
    const tighter = rank(openAfter) < rank(openBefore);
    out.push(
      change(
        "json-schema",
        tighter ? "additional_properties_tightened" : "additional_properties_loosened",
        where(`${pointer}/additionalProperties`),
        `additionalProperties ${openBefore} became ${openAfter}`,
        "additionalProperties",
      ),
    );
  } else if (openBefore === "schema") {
    diffSchema(
      a.additionalProperties as Schema,
      b.additionalProperties as Schema,
      name,
      `${pointer}/additionalProperties`,
      out,
    );
  }
}

function diffDefinitions(a: unknown, b: unknown, name: string, pointer: string, out: Change[]): void {
  const before = (a ?? {}) as Record<string, Schema>;
  const after = (b ?? {}) as Record<string, Schema>;
  for (const key of Object.keys(before)) {
    if (Object.hasOwn(after, key)) diffSchema(before[key]!, after[key]!, name, `${pointer}/${key}`, out);
    else
      out.push(change("json-schema", "schema_removed", `${name}#${pointer}/${key}`, `definition ${key} was removed`));
  }
  for (const key of Object.keys(after))
    if (!Object.hasOwn(before, key))
      out.push(change("json-schema", "schema_added", `${name}#${pointer}/${key}`, `definition ${key} was added`));
}

/** "tightened", "loosened", "changed", or undefined for no change. */
function compareConstraint(
  kind: "upper" | "lower" | "set" | "exact",
  a: unknown,
  b: unknown,
): "tightened" | "loosened" | "changed" | undefined {
  if (canonicalJson(a) === canonicalJson(b)) return undefined;
  if (a === undefined) return "tightened";
  if (b === undefined) return "loosened";
  switch (kind) {
    case "upper":
      return typeof a === "number" && typeof b === "number" ? (b < a ? "tightened" : "loosened") : "changed";
    case "lower":
      return typeof a === "number" && typeof b === "number" ? (b > a ? "tightened" : "loosened") : "changed";
    case "set": {
      if (!Array.isArray(a) || !Array.isArray(b)) return "changed";
      const before = new Set(a.map((v) => canonicalJson(v)));
      const after = new Set(b.map((v) => canonicalJson(v)));
      if ([...after].every((v) => before.has(v))) return "tightened";
      if ([...before].every((v) => after.has(v))) return "loosened";
      return "changed";
    }
    case "exact":
      return "changed";
  }
}

type Openness = "closed" | "schema" | "open";
const openness = (value: unknown): Openness => (value === true ? "open" : isSchema(value) ? "schema" : "closed");
const rank = (o: Openness) => ["closed", "schema", "open"].indexOf(o);

/** Two property schemas alike but for their annotations: the mark of a rename. */
function sameShape(a: Schema, b: Schema): boolean {
  return canonicalJson(withoutAnnotations(a)) === canonicalJson(withoutAnnotations(b));
}

function withoutAnnotations(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutAnnotations);
  if (typeof schema !== "object" || schema === null) return schema;
  return Object.fromEntries(
    Object.entries(schema)
      .filter(([k]) => !ANNOTATIONS.has(k) && !VERSION_HEADERS.has(k))
      .map(([k, v]) => [k, withoutAnnotations(v)]),
  );
}

function typeOf(s: Schema): unknown {
  return Array.isArray(s.type) ? [...(s.type as string[])].sort() : s.type;
}

function describeType(s: Schema): string {
  if (typeof s.$ref === "string") return s.$ref;
  return s.type === undefined ? "(any)" : JSON.stringify(s.type);
}

function describeValue(v: unknown): string {
  return v === undefined ? "(none)" : JSON.stringify(v);
}

const isSchema = (v: unknown): v is Schema => typeof v === "object" && v !== null && !Array.isArray(v);
const isObjectSchema = (s: Schema) => s.type === "object" || isSchema(s.properties);
