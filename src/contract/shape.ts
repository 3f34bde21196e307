/**
 * The contract rules a JSON Schema does not say, derived from the schema
 * itself so they cannot drift from it:
 *
 * - `unknown_property`: a key the contract does not name is refused rather
 *   than dropped, since the protobuf side has no field to carry it (free-form
 *   data goes under `metadata` / `details`).
 * - `forbidden_key`: `__proto__`, `constructor` and `prototype` are refused
 *   inside free-form objects, so no consumer can be led into prototype
 *   pollution by a merge.
 * - `json_value`: free-form values must be JSON (no NaN, undefined, functions,
 *   bigint, class instances); `max_depth`: they nest at most
 *   MAX_FREE_FORM_DEPTH deep, well inside protobuf's recursion limit of 100.
 * - `timestamp_range`: a date-time must fall within 0001-01-01..9999-12-31,
 *   the range of the google.protobuf.Timestamp that carries it.
 *
 * Two passes, as ajv does it: `shapeIsValid` answers yes/no without building
 * a path (the hot path), and `shapeIssues` runs only on failure to say where.
 */
import { pointerSegment, type ValidationIssue } from "./errors.js";
import { isRfc3339, parseTimestamp } from "./timestamp.js";

export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);
export const MAX_FREE_FORM_DEPTH = 64;

type JsonSchema = { readonly [key: string]: unknown };

/** What the schema says about one value. */
export type Shape =
  | {
      readonly kind: "closed";
      readonly properties: ReadonlyMap<string, Shape | undefined>;
      /** The schema itself forbids other keys (ajv reports them). */
      readonly schemaClosed: boolean;
    }
  | { readonly kind: "free" }
  | { readonly kind: "timestamp" };

/** The shape of a schema; `extraKeys` are known top-level keys the schema does not list. */
export function describeShape(schema: JsonSchema, extraKeys: readonly string[] = []): Shape | undefined {
  const shape = describe(schema, schema);
  if (shape?.kind !== "closed" || extraKeys.length === 0) return shape;
  const properties = new Map(shape.properties);
  for (const key of extraKeys) if (!properties.has(key)) properties.set(key, undefined);
  return { ...shape, properties };
}

function describe(node: JsonSchema, root: JsonSchema): Shape | undefined {
  const resolved = resolveRef(node, root);
  if (resolved.type === "string" && resolved.format === "date-time") return { kind: "timestamp" };
  if (resolved.type !== "object") return undefined;
  if (resolved.additionalProperties === true) return { kind: "free" };
  const props = (resolved.properties ?? {}) as Record<string, JsonSchema>;
  const properties = new Map<string, Shape | undefined>();
  for (const [key, child] of Object.entries(props)) properties.set(key, describe(child, root));
  return { kind: "closed", properties, schemaClosed: resolved.additionalProperties === false };
}

function resolveRef(node: JsonSchema, root: JsonSchema): JsonSchema {
  const ref = node.$ref;
  if (typeof ref !== "string") return node;
  const name = ref.replace(/^#\/\$defs\//, "");
  const target = (root.$defs as Record<string, JsonSchema> | undefined)?.[name];
  if (!target) throw new Error(`schema ${String(root.title)}: unresolved $ref ${ref}`);
  return target;
}

// --- pass 1: yes or no, no allocation -----------------------------------------

export function shapeIsValid(value: unknown, shape: Shape | undefined): boolean {
  if (shape === undefined) return true;
  switch (shape.kind) {
    case "timestamp":
      return typeof value !== "string" || !timestampOutOfRange(value);
    case "free":
      return !isPlainObject(value) || freeFormIsValid(value, 1);
    case "closed":
      if (!isPlainObject(value)) return true; // type errors are the schema's to report
      for (const key in value) {
        if (!Object.hasOwn(value, key)) continue;
        if (!shape.properties.has(key)) {
          if (shape.schemaClosed) continue;
          return false;
        }
        if (!shapeIsValid(value[key], shape.properties.get(key))) return false;
      }
      return true;
  }
}

function freeFormIsValid(value: unknown, depth: number): boolean {
  if (depth > MAX_FREE_FORM_DEPTH) return false;
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object":
      if (value === null) return true;
      if (Array.isArray(value)) {
        for (const item of value) if (!freeFormIsValid(item, depth + 1)) return false;
        return true;
      }
      {
        const proto = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) return false; // the report pass says why
      }
      for (const key in value) {
        if (!Object.hasOwn(value, key)) continue;
        if (FORBIDDEN_KEYS.has(key)) return false;
        if (!freeFormIsValid((value as Record<string, unknown>)[key], depth + 1)) return false;
      }
      return true;
    default:
      return false;
  }
}

// --- pass 2: every problem, with its path ------------------------------------

export function shapeIssues(value: unknown, shape: Shape | undefined, path: string, found: ValidationIssue[]): void {
  if (shape === undefined) return;
  if (shape.kind === "timestamp") {
    if (typeof value === "string" && timestampOutOfRange(value)) {
      found.push({ path, rule: "timestamp_range", message: timestampRangeMessage(value) });
    }
    return;
  }
  if (!isPlainObject(value)) return;
  if (shape.kind === "free") {
    freeFormIssues(value, path, 1, found);
    return;
  }
  for (const key of Object.keys(value)) {
    const childPath = `${path}/${pointerSegment(key)}`;
    if (!shape.properties.has(key)) {
      if (shape.schemaClosed) continue;
      found.push({
        path: childPath,
        rule: "unknown_property",
        message: "is not a field of this contract (free-form data belongs under metadata/details)",
      });
      continue;
    }
    shapeIssues(value[key], shape.properties.get(key), childPath, found);
  }
}

function freeFormIssues(value: unknown, path: string, depth: number, found: ValidationIssue[]): void {
  if (depth > MAX_FREE_FORM_DEPTH) {
    found.push({ path, rule: "max_depth", message: `nests deeper than ${MAX_FREE_FORM_DEPTH} levels` });
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => freeFormIssues(item, `${path}/${i}`, depth + 1, found));
    return;
  }
  if (hasSmuggledPrototype(value)) {
    // A "__proto__" key assigned with `obj[key] = v` (as generated protobuf
    // decoders do) does not become a key: it replaces the prototype.
    found.push({ path: `${path}/__proto__`, rule: "forbidden_key", message: forbiddenMessage("__proto__") });
    return;
  }
  if (isPlainObject(value)) {
    for (const key of Object.keys(value)) {
      const childPath = `${path}/${pointerSegment(key)}`;
      if (FORBIDDEN_KEYS.has(key)) {
        found.push({ path: childPath, rule: "forbidden_key", message: forbiddenMessage(key) });
        continue;
      }
      freeFormIssues(value[key], childPath, depth + 1, found);
    }
    return;
  }
  const problem = jsonValueProblem(value);
  if (problem) found.push({ path, rule: "json_value", message: problem });
}

function jsonValueProblem(value: unknown): string | undefined {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined;
    case "number":
      return Number.isFinite(value) ? undefined : `must be a finite number (got ${value})`;
    case "object":
      return value === null ? undefined : `must be plain JSON (got a ${value.constructor?.name ?? "object"})`;
    default:
      return `must be a JSON value (got ${typeof value})`;
  }
}

const forbiddenMessage = (key: string) => `key "${key}" is refused (it could pollute an object prototype)`;

/**
 * An object whose prototype is a plain object rather than a class prototype
 * (which always has its own `constructor`): the mark of `o["__proto__"] = {...}`.
 */
function hasSmuggledPrototype(value: unknown): boolean {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return (
    proto !== null &&
    proto !== Object.prototype &&
    Object.getPrototypeOf(proto) === Object.prototype &&
    !Object.hasOwn(proto, "constructor")
  );
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

// --- timestamps ---------------------------------------------------------------

/** Only year 0000 and the first/last day of the range can fall outside it (with offsets). */
function timestampOutOfRange(text: string): boolean {
  const nearLimits = text.startsWith("0000") || text.startsWith("0001-01-01") || text.startsWith("9999-12-31");
  return nearLimits && isRfc3339(text) && timestampRangeMessage(text) !== "";
}

function timestampRangeMessage(text: string): string {
  try {
    parseTimestamp(text);
    return "";
  } catch (e) {
    return (e as Error).message;
  }
}
