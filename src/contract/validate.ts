/**
 * Contract validation: the JSON Schema (ajv, 2020-12, formats on), the exact
 * version policy, and the rules a schema cannot say (shape.ts).
 *
 * Each schema is compiled once, twice over: a fast validator that stops at the
 * first error (the hot path, and no allErrors on untrusted input), and a
 * report validator with allErrors that runs only once an input is known to be
 * bad, to list every problem for a human. The report's size is bounded by the
 * schema's, since free-form objects carry no subschemas.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { ValidationError, pointerSegment, type ValidationIssue } from "./errors.js";
import { describeShape, isPlainObject, shapeIsValid, shapeIssues } from "./shape.js";
import { dateTimeProblem, isRfc3339DateTime } from "./timestamp.js";
import type { JsonSchema } from "./types.js";

// ajv-formats is CommonJS; under NodeNext its default export is the module.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

export type { JsonSchema } from "./types.js";

/** How one contract type is validated. */
export interface ContractSpec {
  /** Name used in errors and in the registry, e.g. "SessionStartEvent". */
  readonly name: string;
  readonly schema: JsonSchema;
  /**
   * Version policy, where the type has one: the field must hold one of the
   * `expected` versions exactly (the versions accepted, in the order a refusal
   * lists them). The field is a known key even where the schema does not list
   * it (SessionEndEvent).
   */
  readonly version?: { readonly field: string; readonly expected: string | readonly string[] };
  /**
   * The free-form field that takes data the contract does not name
   * (`details` for the VRP envelope), where the schema closes the top level:
   * refusals of a stray top-level key then say where such data belongs.
   */
  readonly freeFormField?: string;
}

export interface ContractValidator<T> {
  readonly spec: ContractSpec;
  /** Returns the value typed, or throws a ValidationError listing every problem. */
  assert(value: unknown): T;
  /** Returns every problem (an empty list when the value is valid). */
  issues(value: unknown): ValidationIssue[];
  /**
   * Compile now what is otherwise compiled on first use (about 100 ms for a
   * schema): a server does at start, so its first event does not wait.
   */
  prepare(): void;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The string formats the contract's schemas use, as validation checks them (also for fast paths that check values themselves). */
export const CONTRACT_FORMATS: Readonly<Record<string, (text: string) => boolean>> = {
  // RFC 3339 exactly (ajv-formats is more lenient about offsets), and faster.
  "date-time": isRfc3339DateTime,
  // RFC 4122's string form only: ajv-formats also takes "urn:uuid:...", which
  // is the URN, not the string representation JSON Schema's "uuid" means.
  uuid: (text) => UUID.test(text),
};

function makeAjv(allErrors: boolean): Ajv2020 {
  const ajv = new Ajv2020({ strict: true, allErrors, validateFormats: true });
  addFormats(ajv);
  for (const [name, validate] of Object.entries(CONTRACT_FORMATS)) ajv.addFormat(name, { type: "string", validate });
  // Non-standard top-level annotations the contract carries.
  ajv.addKeyword({ keyword: "event_version", schemaType: "string" });
  ajv.addKeyword({ keyword: "schema_version", schemaType: "string" });
  return ajv;
}

// Built on first use: a command that validates nothing should not pay for them.
let fastAjv: Ajv2020 | undefined;
let reportAjv: Ajv2020 | undefined;

export function compileContract<T>(spec: ContractSpec): ContractValidator<T> {
  let fast: ValidateFunction | undefined; // compiled on first use
  let report: ValidateFunction | undefined; // compiled on first bad input
  const shape = describeShape(spec.schema, spec.version ? [spec.version.field] : []);
  const { version } = spec;

  const compiled = () => (fast ??= (fastAjv ??= makeAjv(false)).compile(spec.schema));
  const isValid = (value: unknown): boolean =>
    (!version || versionIsValid(value, version)) && compiled()(value) && shapeIsValid(value, shape);

  const issues = (value: unknown): ValidationIssue[] => {
    if (isValid(value)) return [];
    const found: ValidationIssue[] = [];
    if (version) versionIssues(value, version, found);
    report ??= (reportAjv ??= makeAjv(true)).compile(spec.schema);
    if (!report(value)) for (const e of report.errors ?? []) found.push(fromAjvError(e, value, spec.freeFormField));
    shapeIssues(value, shape, found);
    if (found.length === 0) found.push({ path: "", rule: "contract", message: "is invalid" }); // never a silent pass
    return dedupe(found);
  };

  return {
    spec,
    issues,
    prepare: () => void compiled(),
    assert(value: unknown): T {
      if (isValid(value)) return value as T;
      throw new ValidationError(spec.name, issues(value));
    },
  };
}

type VersionPolicy = NonNullable<ContractSpec["version"]>;

function versionIsValid(value: unknown, policy: VersionPolicy): boolean {
  if (!isPlainObject(value) || !Object.hasOwn(value, policy.field)) return true;
  const got = value[policy.field];
  return typeof policy.expected === "string" ? got === policy.expected : policy.expected.includes(got as string);
}

/** "'1.0'" for one accepted version, "one of '1.0', '1.1'" for several. */
function expectedVersions(expected: string | readonly string[]): string {
  if (typeof expected === "string" || expected.length === 1)
    return `'${typeof expected === "string" ? expected : expected[0]}'`;
  return `one of ${expected.map((v) => `'${v}'`).join(", ")}`;
}

function versionIssues(value: unknown, policy: VersionPolicy, found: ValidationIssue[]): void {
  if (versionIsValid(value, policy)) return;
  const got = (value as Record<string, unknown>)[policy.field];
  const shown = typeof got === "string" && got !== "" ? got : JSON.stringify(got);
  found.push({
    path: `/${pointerSegment(policy.field)}`,
    rule: "event_version",
    message: `Unsupported event version: ${shown} (expected ${expectedVersions(policy.expected)})`,
  });
}

function fromAjvError(e: ErrorObject, root: unknown, freeFormField: string | undefined): ValidationIssue {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case "required":
      return {
        path: `${e.instancePath}/${pointerSegment(String(p.missingProperty))}`,
        rule: "required",
        message: "is required",
      };
    case "format":
      return {
        path: e.instancePath,
        rule: "format",
        message: formatMessage(String(p.format), valueAt(root, e.instancePath)),
      };
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
        // As the open session contracts say it (shape.ts), naming the one place such data may go.
        message:
          e.instancePath === "" && freeFormField
            ? `is not a field of this contract (free-form data belongs under ${freeFormField})`
            : "is not a property of this contract",
      };
    default:
      return { path: e.instancePath, rule: e.keyword, message: e.message ?? "is invalid" };
  }
}

function formatMessage(format: string, value: unknown): string {
  switch (format) {
    case "date-time": {
      const problem = typeof value === "string" ? dateTimeProblem(value) : undefined;
      if (problem) return `must be an RFC 3339 date-time: ${problem}, e.g. "2026-02-06T12:34:56.789Z"`;
      return (
        "must be an RFC 3339 date-time with a time and an offset, " +
        'e.g. "2026-02-06T12:34:56.789Z" (seconds 00-59, 60 only for a leap second)'
      );
    }
    case "uuid":
      return 'must be a UUID, e.g. "550e8400-e29b-41d4-a716-446655440000"';
    default:
      return `must be a valid ${format}`;
  }
}

/** The value a JSON Pointer (as ajv writes instancePath) points to in `root`. */
function valueAt(root: unknown, pointer: string): unknown {
  let value = root;
  for (const segment of pointer.split("/").slice(1)) {
    if (typeof value !== "object" || value === null) return undefined;
    const key = segment.replace(/~1/g, "/").replace(/~0/g, "~");
    value = Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined;
  }
  return value;
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
