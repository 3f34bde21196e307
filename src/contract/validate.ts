/**
 * Contract validation: the JSON Schema (ajv, 2020-12, formats on) plus the
 * few contract rules a schema cannot say.
 *
 * Rules beyond the schema, each with its own rule name in errors:
 * - `event_version`: exact version matching ("1.0" only) where a version is set.
 * - `unknown_property`: a key the contract does not name is refused rather
 *   than dropped, since the protobuf side has no field to carry it (free-form
 *   data goes under `metadata` / `details`).
 * - `forbidden_key`: `__proto__`, `constructor` and `prototype` are refused
 *   inside free-form objects, so no consumer can be led into prototype
 *   pollution by a merge.
 * - `timestamp_range`: a date-time must fall within 0001-01-01..9999-12-31,
 *   the range of google.protobuf.Timestamp that carries it on the wire.
 * - `json_value`: free-form values must be JSON (no NaN, undefined, functions,
 *   bigint, class instances), and nest at most MAX_FREE_FORM_DEPTH deep
 *   (`max_depth`), well inside protobuf's recursion limit of 100.
 *
 * Each schema is compiled once, twice over: a fast validator that stops at the
 * first error (the hot path, and no allErrors on untrusted input), and a
 * report validator with allErrors that runs only once an input is known to be
 * bad, to list every problem for a human.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { ValidationError, pointerSegment, type ValidationIssue } from "./errors.js";
import { isRfc3339, parseTimestamp } from "./timestamp.js";

// ajv-formats is CommonJS; under NodeNext its default export is the module.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);
export const MAX_FREE_FORM_DEPTH = 64;

type JsonSchema = { readonly [key: string]: unknown };

/** How one contract type is validated. */
export interface ContractSpec {
  /** Name used in errors and in the registry, e.g. "SessionStartEvent". */
  readonly name: string;
  readonly schema: JsonSchema;
  /** Exact-match version policy, where the type has one. */
  readonly version?: { readonly field: string; readonly expected: string };
}

export interface ContractValidator<T> {
  readonly spec: ContractSpec;
  /** Returns the value typed, or throws a ValidationError listing every problem. */
  assert(value: unknown): T;
  /** Returns every problem (an empty list when the value is valid). */
  issues(value: unknown): ValidationIssue[];
}

function makeAjv(allErrors: boolean): Ajv2020 {
  const ajv = new Ajv2020({ strict: true, allErrors, validateFormats: true });
  addFormats(ajv);
  // Non-standard top-level annotations the contract carries.
  ajv.addKeyword({ keyword: "event_version", schemaType: "string" });
  ajv.addKeyword({ keyword: "schema_version", schemaType: "string" });
  return ajv;
}

const fastAjv = makeAjv(false);
const reportAjv = makeAjv(true);

export function compileContract<T>(spec: ContractSpec): ContractValidator<T> {
  const fast = fastAjv.compile(spec.schema);
  let report: ValidateFunction | undefined; // compiled on first bad input
  const shape = withVersionField(describeShape(spec.schema, spec.schema), spec.version?.field);

  const issues = (value: unknown): ValidationIssue[] => {
    const found: ValidationIssue[] = [];
    if (spec.version) checkVersion(value, spec.version, found);
    if (!fast(value)) {
      report ??= reportAjv.compile(spec.schema);
      report(value);
      for (const e of report.errors ?? []) found.push(fromAjvError(e));
    }
    checkShape(value, shape, "", found);
    return dedupe(found);
  };

  return {
    spec,
    issues,
    assert(value: unknown): T {
      const found = issues(value);
      if (found.length > 0) throw new ValidationError(spec.name, found);
      return value as T;
    },
  };
}

function checkVersion(
  value: unknown,
  policy: NonNullable<ContractSpec["version"]>,
  found: ValidationIssue[],
): void {
  if (!isPlainObject(value) || !Object.hasOwn(value, policy.field)) return;
  const got = value[policy.field];
  if (got === policy.expected) return;
  const shown = typeof got === "string" && got !== "" ? got : JSON.stringify(got);
  found.push({
    path: `/${pointerSegment(policy.field)}`,
    rule: "event_version",
    message: `Unsupported event version: ${shown} (expected '${policy.expected}')`,
  });
}

function fromAjvError(e: ErrorObject): ValidationIssue {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case "required":
      return {
        path: `${e.instancePath}/${pointerSegment(String(p.missingProperty))}`,
        rule: "required",
        message: "is required",
      };
    case "format":
      return { path: e.instancePath, rule: "format", message: formatMessage(String(p.format)) };
    case "const":
      return {
        path: e.instancePath,
        rule: "const",
        message: `must be ${JSON.stringify(p.allowedValue)}`,
      };
    case "additionalProperties":
      return {
        path: `${e.instancePath}/${pointerSegment(String(p.additionalProperty))}`,
        rule: "additionalProperties",
        message: "is not a property of this contract",
      };
    default:
      return { path: e.instancePath, rule: e.keyword, message: e.message ?? "is invalid" };
  }
}

function formatMessage(format: string): string {
  switch (format) {
    case "date-time":
      return (
        "must be an RFC 3339 date-time with a time and an offset, " +
        'e.g. "2026-02-06T12:34:56.789Z" (seconds 00-59, 60 only for a leap second)'
      );
    case "uuid":
      return 'must be a UUID, e.g. "550e8400-e29b-41d4-a716-446655440000"';
    default:
      return `must be a valid ${format}`;
  }
}

// ---------------------------------------------------------------------------
// Shape rules: derived from the schema, so they cannot drift from it.

/** What the schema says about one object: its named properties, or free-form. */
type Shape =
  | {
      readonly kind: "closed";
      readonly properties: ReadonlyMap<string, Shape | undefined>;
      /** The schema itself forbids other keys (ajv reports them). */
      readonly schemaClosed: boolean;
    }
  | { readonly kind: "free" }
  | { readonly kind: "timestamp" };

function describeShape(node: JsonSchema, root: JsonSchema): Shape | undefined {
  const resolved = resolveRef(node, root);
  if (resolved.type === "string" && resolved.format === "date-time") return { kind: "timestamp" };
  if (resolved.type !== "object") return undefined;
  if (resolved.additionalProperties === true) return { kind: "free" };
  const props = (resolved.properties ?? {}) as Record<string, JsonSchema>;
  const properties = new Map<string, Shape | undefined>();
  for (const [key, child] of Object.entries(props)) properties.set(key, describeShape(child, root));
  return { kind: "closed", properties, schemaClosed: resolved.additionalProperties === false };
}

/** The version field is a known key even where the schema does not list it (SessionEndEvent). */
function withVersionField(shape: Shape | undefined, field: string | undefined): Shape | undefined {
  if (!field || shape?.kind !== "closed" || shape.properties.has(field)) return shape;
  return { ...shape, properties: new Map([...shape.properties, [field, undefined]]) };
}

function resolveRef(node: JsonSchema, root: JsonSchema): JsonSchema {
  const ref = node.$ref;
  if (typeof ref !== "string") return node;
  const name = ref.replace(/^#\/\$defs\//, "");
  const target = (root.$defs as Record<string, JsonSchema> | undefined)?.[name];
  if (!target) throw new Error(`schema ${String(root.title)}: unresolved $ref ${ref}`);
  return target;
}

function checkShape(value: unknown, shape: Shape | undefined, path: string, found: ValidationIssue[]): void {
  if (shape?.kind === "timestamp") {
    checkTimestampRange(value, path, found);
    return;
  }
  if (!shape || !isPlainObject(value)) return; // type errors are the schema's to report
  if (shape.kind === "free") {
    checkFreeForm(value, path, 1, found);
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
    checkShape(value[key], shape.properties.get(key), childPath, found);
  }
}

function checkTimestampRange(value: unknown, path: string, found: ValidationIssue[]): void {
  if (typeof value !== "string" || !isRfc3339(value)) return; // the schema's format reports it
  try {
    parseTimestamp(value);
  } catch (e) {
    found.push({ path, rule: "timestamp_range", message: (e as Error).message });
  }
}

function checkFreeForm(value: unknown, path: string, depth: number, found: ValidationIssue[]): void {
  if (depth > MAX_FREE_FORM_DEPTH) {
    found.push({ path, rule: "max_depth", message: `nests deeper than ${MAX_FREE_FORM_DEPTH} levels` });
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => checkFreeForm(item, `${path}/${i}`, depth + 1, found));
    return;
  }
  if (hasSmuggledPrototype(value)) {
    // A "__proto__" key assigned with `obj[key] = v` (as generated protobuf
    // decoders do) does not become a key: it replaces the prototype.
    found.push({ path: `${path}/__proto__`, rule: "forbidden_key", message: FORBIDDEN_MESSAGE("__proto__") });
    return;
  }
  if (isPlainObject(value)) {
    for (const key of Object.keys(value)) {
      const childPath = `${path}/${pointerSegment(key)}`;
      if (FORBIDDEN_KEYS.has(key)) {
        found.push({ path: childPath, rule: "forbidden_key", message: FORBIDDEN_MESSAGE(key) });
        continue;
      }
      checkFreeForm(value[key], childPath, depth + 1, found);
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

const FORBIDDEN_MESSAGE = (key: string) => `key "${key}" is refused (it could pollute an object prototype)`;

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

function dedupe(issues: ValidationIssue[]): ValidationIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.path}\u0000${i.rule}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
