/**
 * The contract rules a JSON Schema does not say, derived from the schema
 * itself so they cannot drift from it:
 *
 * - `type`: every object the schema describes must be a plain JSON object
 *   (an object literal or JSON.parse output): not a Date, Map, class instance
 *   or an object inheriting its fields, which ajv's `type: "object"` lets by.
 * - `unknown_property`: a key the contract does not name is refused rather
 *   than dropped, since the protobuf side has no field to carry it (free-form
 *   data goes under `metadata` / `details`).
 * - `forbidden_key`: `__proto__`, `constructor` and `prototype` are refused
 *   inside free-form objects, so no consumer can be led into prototype
 *   pollution by a merge.
 * - `json_value`: free-form values must be JSON (no NaN, undefined, holes,
 *   functions, bigint, class instances); `max_depth`: they nest at most
 *   MAX_FREE_FORM_DEPTH levels deep (see there for the count and the reason).
 * - `unicode`: every string and key must be well-formed Unicode (no lone
 *   surrogates), which protobuf's UTF-8 would otherwise silently replace.
 * - `timestamp_range`: a date-time must fall within 0001-01-01..9999-12-31,
 *   the range of the google.protobuf.Timestamp that carries it.
 *
 * One walker serves both uses: without a `found` list it stops at the first
 * problem and builds no paths (the hot path); with one, it lists every problem
 * with its JSON Pointer. So the two can never judge differently.
 */
import { pointerSegment, type ValidationIssue } from "./errors.js";
import { timestampStatus } from "./timestamp.js";
import type { JsonSchema } from "./types.js";

export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);
/**
 * How deep `metadata` / `details` may nest. A value's level is the number of
 * segments of its JSON Pointer inside the event: `/metadata` itself is 1,
 * `/metadata/a` is 2, `/metadata/a/0` is 3 (objects and arrays alike).
 *
 * Why 33: protobuf decoders refuse input nested past 100 messages (ts-proto
 * counts the outermost message as 1; protobuf's C++, Java and Python's upb
 * allow one more). Each object level of a Struct costs three messages
 * (Struct, its map entry, Value), and the deepest carrier of an event is
 * three messages (a LogEntry in the log and archives: LogEntry, SessionStarted
 * or VrpReceived, the event; a GetSessionResponse: the response, Session, the
 * event). So a value at level 33 sits at most 3 + 3 * 32 = 99 messages deep,
 * and an empty object or array there is the 100th: every event this limit
 * lets through can be read back by any of them, in every message that
 * carries it. It is also exactly what the gRPC boundary took before this
 * limit was stated, so no event in an existing log becomes invalid. A new
 * message that wraps one of those carriers once more must lower it.
 */
export const MAX_FREE_FORM_DEPTH = 33;

export const forbiddenKeyMessage = (key: string) => `key "${key}" is refused (it could pollute an object prototype)`;
export const maxDepthMessage = () =>
  `nests deeper than ${MAX_FREE_FORM_DEPTH} levels (the level of a value is the number of segments of its path: /metadata is 1, /metadata/a is 2)`;

/** What the schema says about one value. */
export type Shape =
  | {
      readonly kind: "closed";
      readonly properties: ReadonlyMap<string, Shape | undefined>;
      /** The schema itself forbids other keys (ajv reports them). */
      readonly schemaClosed: boolean;
    }
  | { readonly kind: "free" }
  | { readonly kind: "string" }
  | { readonly kind: "timestamp" };

/** The shape of a schema; `extraKeys` are known top-level keys the schema does not list. */
export function describeShape(schema: JsonSchema, extraKeys: readonly string[] = []): Shape | undefined {
  const shape = describe(schema, schema);
  if (shape?.kind !== "closed" || extraKeys.length === 0) return shape;
  const properties = new Map(shape.properties);
  for (const key of extraKeys) if (!properties.has(key)) properties.set(key, { kind: "string" });
  return { ...shape, properties };
}

function describe(node: JsonSchema, root: JsonSchema): Shape | undefined {
  const resolved = resolveRef(node, root);
  if (resolved.type === "string") return resolved.format === "date-time" ? { kind: "timestamp" } : { kind: "string" };
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

/** Where problems go: a list (report) or nowhere (yes/no). */
type Found = ValidationIssue[] | undefined;

/** Yes/no, fast: no paths are built. */
export function shapeIsValid(value: unknown, shape: Shape | undefined): boolean {
  return walk(value, shape, "", undefined);
}

/** Every problem, with its path. */
export function shapeIssues(value: unknown, shape: Shape | undefined, found: ValidationIssue[]): void {
  walk(value, shape, "", found);
}

function fail(found: Found, path: string, rule: string, message: string): false {
  found?.push({ path, rule, message });
  return false;
}

/** A child's path, built only when problems are being listed. */
const at = (found: Found, path: string, key: string | number): string =>
  found ? `${path}/${pointerSegment(key)}` : "";

function walk(value: unknown, shape: Shape | undefined, path: string, found: Found): boolean {
  if (shape === undefined) return true;
  switch (shape.kind) {
    case "string":
      // Type errors are the schema's to report; the text itself is ours.
      return typeof value !== "string" || value.isWellFormed() || fail(found, path, "unicode", UNICODE_MESSAGE);
    case "timestamp":
      if (typeof value !== "string") return true;
      if (!value.isWellFormed()) return fail(found, path, "unicode", UNICODE_MESSAGE);
      return timestampStatus(value) !== "range" || fail(found, path, "timestamp_range", TIMESTAMP_RANGE_MESSAGE);
    case "free":
      if (!isObjectLike(value)) return true; // the schema reports the type
      return freeForm(value, path, 1, found);
    case "closed": {
      if (!isObjectLike(value)) return true; // the schema reports the type
      if (!isPlainObject(value))
        return fail(found, path, "type", `must be a plain JSON object (got ${describeValue(value)})`);
      let ok = true;
      for (const key in value) {
        if (!Object.hasOwn(value, key)) continue;
        if (!shape.properties.has(key)) {
          if (shape.schemaClosed) continue;
          ok = fail(found, at(found, path, key), "unknown_property", UNKNOWN_MESSAGE);
        } else if (!walk(value[key], shape.properties.get(key), at(found, path, key), found)) {
          ok = false;
        }
        if (!ok && !found) return false;
      }
      return ok;
    }
  }
}

export const nonFiniteMessage = (value: number) => `must be a finite number (got ${value})`;
export const notJsonMessage = (what: string) => `must be a JSON value (got ${what})`;

function freeForm(value: unknown, path: string, depth: number, found: Found): boolean {
  if (depth > MAX_FREE_FORM_DEPTH) return fail(found, path, "max_depth", maxDepthMessage());
  switch (typeof value) {
    case "boolean":
      return true;
    case "string":
      return value.isWellFormed() || fail(found, path, "unicode", UNICODE_MESSAGE);
    case "number":
      return Number.isFinite(value) || fail(found, path, "json_value", nonFiniteMessage(value));
    case "object": {
      if (value === null) return true;
      let ok = true;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const item = i in value ? value[i] : HOLE;
          if (!freeForm(item, at(found, path, i), depth + 1, found)) ok = false;
          if (!ok && !found) return false;
        }
        return ok;
      }
      if (hasSmuggledPrototype(value)) {
        // A "__proto__" key assigned with `obj[key] = v` (as generated protobuf
        // decoders do) does not become a key: it replaces the prototype.
        return fail(found, found ? `${path}/__proto__` : "", "forbidden_key", forbiddenKeyMessage("__proto__"));
      }
      if (!isPlainObject(value))
        return fail(found, path, "json_value", `must be plain JSON (got ${describeValue(value)})`);
      for (const key in value) {
        if (!Object.hasOwn(value, key)) continue;
        const child = at(found, path, key);
        if (FORBIDDEN_KEYS.has(key)) ok = fail(found, child, "forbidden_key", forbiddenKeyMessage(key));
        else if (!key.isWellFormed()) ok = fail(found, child, "unicode", `key: ${UNICODE_MESSAGE}`);
        else if (!freeForm(value[key], child, depth + 1, found)) ok = false;
        if (!ok && !found) return false;
      }
      return ok;
    }
    default:
      return fail(found, path, "json_value", notJsonMessage(value === HOLE ? "an array hole" : typeof value));
  }
}

const HOLE = Symbol("hole");
const UNICODE_MESSAGE = "must be well-formed Unicode (it holds a lone surrogate)";
const UNKNOWN_MESSAGE = "is not a field of this contract (free-form data belongs under metadata/details)";
const TIMESTAMP_RANGE_MESSAGE = "is outside the Timestamp range 0001-01-01T00:00:00Z..9999-12-31T23:59:59Z";

function isObjectLike(value: unknown): value is object {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describeValue(value: object): string {
  const proto = Object.getPrototypeOf(value);
  const name = proto && Object.hasOwn(proto, "constructor") ? (proto.constructor as { name?: string }).name : undefined;
  return name ? `a ${name}` : "an object with an inherited prototype";
}

/**
 * An object whose prototype is a plain object rather than a class prototype
 * (which always has its own `constructor`): the mark of `o["__proto__"] = {...}`.
 */
function hasSmuggledPrototype(value: object): boolean {
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
