/**
 * VRP dialects: how one producer's JSON Lines become VRP event envelopes,
 * said in a map (JSON or YAML), not in code.
 *
 *   {
 *     "name": "flat-payload",
 *     "rename": { "event": "event_type", "active_path": "details.transport_id" },
 *     "unknown_keys": "details",
 *     "normalise": { "reason_code": "upper" },
 *     "skip_lines_starting_with": ["#"]
 *   }
 *
 * A line is read in these steps, and nothing else is done to it:
 *
 * 1. A blank line, or one starting with a `skip_lines_starting_with` prefix,
 *    is skipped: it holds no event.
 * 2. The line must be one JSON object. Text that is not JSON is refused with
 *    the field and column where it goes wrong; nothing is repaired.
 * 3. A top-level key `__proto__`, `constructor` or `prototype` is refused.
 * 4. `rename`: each line key named is moved to its target: an envelope field
 *    (`event_type`), `details` itself, or a path under it
 *    (`details.transport_id`). Renames apply at once, to the line as written
 *    (no chains). A target the line already has is refused, not overwritten.
 * 5. `unknown_keys`: a top-level key the envelope does not name is refused by
 *    the contract ("refuse", the default) or moved under `details` with its
 *    name ("details"); a key `details` already has is refused.
 * 6. `normalise`: string values at these paths are upper- or lower-cased.
 * 7. The envelope is checked against the VRP contract, exactly as the wire
 *    checks it. A problem in a field that came from elsewhere on the line
 *    says which line key it came from.
 *
 * The empty map `{}` is the contract's own dialect.
 */
import { readFile } from "node:fs/promises";
import { Ajv2020, type ErrorObject } from "ajv/dist/2020.js";
import { parseDocument } from "yaml";
import { bridges } from "../bridge/index.js";
import { ValidationError, describeError, pointerSegment, type ValidationIssue } from "../contract/errors.js";
import { locateJsonSyntaxError } from "../contract/json-syntax.js";
import { vrpEventSchema } from "../contract/schemas/vrp.js";
import { FORBIDDEN_KEYS, forbiddenKeyMessage, isPlainObject } from "../contract/shape.js";
import type { VrpEventJson } from "../contract/types.js";

/** How a dialect map writes event type names: upper or lower case. */
export type VrpCaseRule = "upper" | "lower";

/** How a producer's lines become envelopes (see the module comment; JSON Schema: VRP_DIALECT_MAP_SCHEMA). */
export interface VrpDialectMap {
  /** A name for reports. */
  readonly name?: string;
  readonly description?: string;
  /** Line key -> envelope field, `details`, or a path under it (`details.transport_id`). */
  readonly rename?: Readonly<Record<string, string>>;
  /** Top-level keys the envelope does not name: refused (default) or moved under `details`. */
  readonly unknown_keys?: "refuse" | "details";
  /** Envelope path (as in `rename` targets) -> case rule for its string value. */
  readonly normalise?: Readonly<Record<string, VrpCaseRule>>;
  /** Lines starting with one of these (after leading blanks) are skipped, like blank lines. */
  readonly skip_lines_starting_with?: readonly string[];
}

/** What one line is. */
export type VrpLineResult =
  | { readonly kind: "skip"; readonly reason: "blank" | "prefix" }
  /** A contract-valid envelope; `moved`: the top-level line keys moved under details. */
  | { readonly kind: "event"; readonly event: VrpEventJson; readonly moved: readonly string[] }
  /** Each problem with the envelope path and the rule. */
  | { readonly kind: "refused"; readonly issues: readonly ValidationIssue[] };

const ENVELOPE_FIELDS: readonly string[] = Object.keys(vrpEventSchema.properties);
const ENVELOPE = new Set(ENVELOPE_FIELDS);
const SCALAR_FIELDS = ENVELOPE_FIELDS.filter((f) => f !== "details");
const FORBIDDEN = [...FORBIDDEN_KEYS];
const FORBIDDEN_SEGMENT = new RegExp(`(?:^|\\.)(${FORBIDDEN.join("|")})(?:\\.|$)`);
/** An envelope field, `details`, or a dotted path under it whose segments are not prototype keys. */
const TARGET_PATTERN = `^(?:${SCALAR_FIELDS.join("|")}|details(?:\\.(?!(?:${FORBIDDEN.join("|")})(?:\\.|$))[^.]+)*)$`;
const TARGET_HELP = `must be an envelope field (${SCALAR_FIELDS.join(", ")}), details, or a path under it like details.transport_id`;

/** The JSON Schema 2020-12 of a dialect map: `--map` files are checked against it. */
export const VRP_DIALECT_MAP_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  title: "VrpDialectMap",
  description: "How one producer's JSON Lines become VRP event envelopes (session-events vrp send --map).",
  type: "object",
  properties: {
    name: { type: "string", minLength: 1, maxLength: 128, description: "A name for reports." },
    description: { type: "string", description: "What producer writes this dialect." },
    rename: {
      type: "object",
      description:
        "Line key -> envelope field, details, or a path under it (details.transport_id). Applied at once, to the line as written.",
      propertyNames: { type: "string", minLength: 1, not: { enum: FORBIDDEN } },
      additionalProperties: { type: "string", pattern: TARGET_PATTERN },
    },
    unknown_keys: {
      enum: ["refuse", "details"],
      description:
        "Top-level keys the envelope does not name: refused by the contract (refuse, the default) or moved under details.",
    },
    normalise: {
      type: "object",
      description: "Envelope path -> case rule for its string value (after renaming).",
      propertyNames: { type: "string", pattern: TARGET_PATTERN },
      additionalProperties: { enum: ["upper", "lower"] },
    },
    skip_lines_starting_with: {
      type: "array",
      description:
        'Lines starting with one of these (after leading blanks) hold no event, like blank lines (e.g. "#"). Not "{".',
      items: { type: "string", minLength: 1, pattern: "^[^{\\s]" },
      uniqueItems: true,
      maxItems: 16,
    },
  },
  additionalProperties: false,
} as const;

// --- the map ----------------------------------------------------------------

let ajv: Ajv2020 | undefined;
let validateMapSchema: ReturnType<Ajv2020["compile"]> | undefined;

/** A map's problems, each with its path and rule (all of them: a map is small and the operator's own). */
function mapIssues(value: unknown): ValidationIssue[] {
  validateMapSchema ??= (ajv ??= new Ajv2020({ strict: true, allErrors: true })).compile(VRP_DIALECT_MAP_SCHEMA);
  if (validateMapSchema(value)) return [];
  const seen = new Set<string>();
  const issues: ValidationIssue[] = [];
  for (const e of validateMapSchema.errors ?? []) {
    const issue = mapIssue(e, value);
    if (!issue) continue;
    const key = `${issue.path}\u0000${issue.rule}`;
    if (!seen.has(key)) issues.push(issue);
    seen.add(key);
  }
  return issues;
}

function mapIssue(e: ErrorObject, root: unknown): ValidationIssue | undefined {
  const params = e.params as Record<string, unknown>;
  // An error about a key (propertyNames) is reported at the key.
  const propertyName = (e as { propertyName?: string }).propertyName;
  if (e.keyword === "propertyNames") return undefined; // its inner error says why, at the key
  const path = propertyName !== undefined ? `${e.instancePath}/${pointerSegment(propertyName)}` : e.instancePath;
  const value = propertyName !== undefined ? propertyName : valueAt(root, e.instancePath);
  const got = typeof value === "string" ? ` (got ${JSON.stringify(value)})` : "";
  if (typeof value === "string" && FORBIDDEN_SEGMENT.test(value) && (e.keyword === "pattern" || e.keyword === "not")) {
    return { path, rule: "forbidden_key", message: forbiddenKeyMessage(value.match(FORBIDDEN_SEGMENT)![1]!) };
  }
  switch (e.keyword) {
    case "additionalProperties":
      return {
        path: `${e.instancePath}/${pointerSegment(String(params.additionalProperty))}`,
        rule: "additionalProperties",
        message: `is not a field of a dialect map (fields: ${Object.keys(VRP_DIALECT_MAP_SCHEMA.properties).join(", ")})`,
      };
    case "pattern":
      if (/^\/(rename\/[^/]+|normalise)$/.test(e.instancePath) || path.startsWith("/normalise/"))
        return { path, rule: "pattern", message: `${TARGET_HELP}${got}` };
      return { path, rule: "pattern", message: `must not start with "{" or a blank (it would skip events)${got}` };
    case "enum":
      return {
        path,
        rule: "enum",
        message: `must be one of ${(params.allowedValues as unknown[]).map(String).join(", ")}${got}`,
      };
    default:
      return {
        path,
        rule: e.keyword,
        message: `${propertyName !== undefined ? "key: " : ""}${e.message ?? "is invalid"}${got}`,
      };
  }
}

function valueAt(root: unknown, pointer: string): unknown {
  let v = root;
  for (const raw of pointer.split("/").slice(1)) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (typeof v !== "object" || v === null || !Object.hasOwn(v, key)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** The map, checked against VRP_DIALECT_MAP_SCHEMA; throws a ValidationError naming each field and rule. */
export function validateVrpDialectMap(value: unknown, subject = "VrpDialectMap"): VrpDialectMap {
  const issues = mapIssues(value);
  if (issues.length > 0) throw new ValidationError(subject, issues);
  return value as VrpDialectMap;
}

/**
 * Read a map from a JSON file (`.json`) or a YAML one (any other name),
 * checked. A key given twice is refused in either (JSON.parse would keep the
 * last one silently); so are YAML warnings (an unknown tag would become a
 * string).
 * @example
 * ```ts
 * import { loadVrpDialectMap } from "session-events";
 * const map = await loadVrpDialectMap("producer-map.yaml");
 * ```
 */
export async function loadVrpDialectMap(file: string): Promise<VrpDialectMap> {
  const text = await readFile(file, "utf8");
  const subject = `dialect map ${file}`;
  const json = /\.json$/i.test(file);
  const refuse = (rule: string, message: string, path = ""): never => {
    throw new ValidationError(subject, [{ path, rule, message }]);
  };
  let value: unknown;
  if (json) {
    try {
      value = JSON.parse(text);
    } catch (e) {
      const where = locateJsonSyntaxError(text);
      refuse(
        "json",
        where
          ? `is not valid JSON at column ${where.column}: ${where.message}`
          : `is not valid JSON: ${describeError(e)}`,
        where?.pointer,
      );
    }
  }
  // YAML reads JSON too, and finds what JSON.parse lets by.
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  const trouble = json ? doc.errors.find((e) => e.code === "DUPLICATE_KEY") : (doc.errors[0] ?? doc.warnings[0]);
  if (trouble?.code === "DUPLICATE_KEY")
    refuse("duplicate_key", `holds a key twice (the first would be lost): ${firstLine(trouble.message)}`);
  if (trouble) refuse("yaml", `is not valid YAML: ${firstLine(trouble.message)}`);
  if (!json) {
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      refuse("yaml", `is not valid YAML: ${firstLine(describeError(e))}`);
    }
  }
  return validateVrpDialectMap(value, subject);
}

const firstLine = (text: string) => text.split("\n")[0]!.replace(/:$/, "");

/** A map made ready to apply: checked once, tables built once. */
interface Compiled {
  readonly renames: readonly { readonly from: string; readonly to: readonly string[] }[];
  readonly renamed: ReadonlySet<string>;
  readonly moveUnknown: boolean;
  readonly normalise: readonly { readonly path: readonly string[]; readonly rule: VrpCaseRule }[];
  readonly skipPrefixes: readonly string[];
}

const compiledMaps = new WeakMap<VrpDialectMap, Compiled>();

function compile(map: VrpDialectMap): Compiled {
  let compiled = compiledMaps.get(map);
  if (compiled) return compiled;
  validateVrpDialectMap(map);
  const renames = Object.entries(map.rename ?? {})
    .map(([from, to]) => ({ from, to: to.split(".") }))
    .sort((a, b) => a.to.length - b.to.length); // details itself before paths under it
  compiled = {
    renames,
    renamed: new Set(renames.map((r) => r.from)),
    moveUnknown: map.unknown_keys === "details",
    normalise: Object.entries(map.normalise ?? {}).map(([path, rule]) => ({ path: path.split("."), rule })),
    skipPrefixes: map.skip_lines_starting_with ?? [],
  };
  compiledMaps.set(map, compiled);
  return compiled;
}

// --- a line -------------------------------------------------------------------

const EMPTY_MAP: VrpDialectMap = Object.freeze({});

/** A key set as an own data property: never a setter, never a prototype. */
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

const pointerOf = (path: readonly string[]) => path.map((s) => `/${pointerSegment(s)}`).join("");

/**
 * One line of a producer's JSON Lines as a VRP envelope, by the map (the
 * contract's own dialect without one). Never throws for what a line holds;
 * throws a ValidationError if the map itself is invalid.
 * @example
 * ```ts
 * import { mapVrpLine, loadVrpDialectMap } from "session-events";
 * const result = mapVrpLine('{"ts_ms":1,"event_type":"SESSION_CREATED","session_id":"s"}', await loadVrpDialectMap("map.yaml"));
 * ```
 */
export function mapVrpLine(line: string, map: VrpDialectMap = EMPTY_MAP): VrpLineResult {
  const c = compile(map);
  const text = line.trimStart();
  if (text.trim() === "") return { kind: "skip", reason: "blank" };
  if (c.skipPrefixes.some((p) => text.startsWith(p))) return { kind: "skip", reason: "prefix" };

  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    const where = locateJsonSyntaxError(line);
    const message = where
      ? `is not valid JSON at column ${where.column}: ${where.message}`
      : `is not valid JSON: ${describeError(e)}`;
    return refused([{ path: where?.pointer ?? "", rule: "json", message }]);
  }
  if (!isPlainObject(value))
    return refused([{ path: "", rule: "type", message: "must be a JSON object (one event a line)" }]);
  const keys = Object.keys(value);
  const forbidden = keys.filter((k) => FORBIDDEN_KEYS.has(k));
  if (forbidden.length > 0)
    return refused(forbidden.map((k) => ({ path: `/${k}`, rule: "forbidden_key", message: forbiddenKeyMessage(k) })));

  const issues: ValidationIssue[] = [];
  /** Envelope pointer -> where its value came from on the line, for messages. */
  const origins = new Map<string, string>();
  const staged: Record<string, unknown> = {};
  const unknown: string[] = [];
  for (const key of keys) {
    if (c.renamed.has(key)) continue;
    if (ENVELOPE.has(key) || !c.moveUnknown)
      define(staged, key, value[key]); // a stray key stays, for the contract to refuse
    else unknown.push(key);
  }

  /** Place a value at a path of the envelope; a value already there is a collision, not overwritten. */
  const place = (path: readonly string[], v: unknown, origin: string) => {
    const at = pointerOf(path);
    let parent = staged;
    for (let depth = 0; depth < path.length - 1; depth++) {
      const segment = path[depth]!;
      if (!Object.hasOwn(parent, segment)) define(parent, segment, {});
      const next = parent[segment];
      if (!isPlainObject(next)) {
        issues.push({
          path: pointerOf(path.slice(0, depth + 1)),
          rule: "type",
          message: `must be an object to take ${at.slice(1).replace(/\//g, ".")} (from ${origin})`,
        });
        return;
      }
      parent = next;
    }
    const leaf = path[path.length - 1]!;
    if (Object.hasOwn(parent, leaf)) {
      issues.push({ path: at, rule: "collision", message: `is on the line already: ${origin} would overwrite it` });
      return;
    }
    define(parent, leaf, v);
    origins.set(at, origin);
  };
  for (const { from, to } of c.renames)
    if (Object.hasOwn(value, from)) place(to, value[from], `line key ${JSON.stringify(from)}`);
  for (const key of unknown)
    place(["details", key], value[key], `line key ${JSON.stringify(key)}, moved under details`);
  if (issues.length > 0) return refused(issues);

  for (const { path, rule } of c.normalise) {
    let parent: unknown = staged;
    for (const segment of path.slice(0, -1))
      parent = isPlainObject(parent) && Object.hasOwn(parent, segment) ? parent[segment] : undefined;
    const leaf = path[path.length - 1]!;
    if (isPlainObject(parent) && Object.hasOwn(parent, leaf) && typeof parent[leaf] === "string") {
      define(
        parent,
        leaf,
        rule === "upper" ? (parent[leaf] as string).toUpperCase() : (parent[leaf] as string).toLowerCase(),
      );
    }
  }

  // The envelope's fields in the contract's order, then anything stray (the contract refuses it).
  const event: Record<string, unknown> = {};
  for (const key of [...ENVELOPE_FIELDS, ...Object.keys(staged)])
    if (Object.hasOwn(staged, key) && !Object.hasOwn(event, key)) define(event, key, staged[key]);
  try {
    bridges.VrpEvent.fromJson(event); // the wire's own check
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    return refused(e.issues.map((i) => withOrigin(i, origins)));
  }
  return { kind: "event", event: event as unknown as VrpEventJson, moved: unknown };
}

function refused(issues: readonly ValidationIssue[]): VrpLineResult {
  return { kind: "refused", issues };
}

/** A contract problem in a value that came from elsewhere on the line says where. */
function withOrigin(issue: ValidationIssue, origins: ReadonlyMap<string, string>): ValidationIssue {
  let best: string | undefined;
  for (const at of origins.keys())
    if ((issue.path === at || issue.path.startsWith(`${at}/`)) && (!best || at.length > best.length)) best = at;
  return best === undefined ? issue : { ...issue, message: `${issue.message} (from ${origins.get(best)})` };
}

/** One line's problems as text: "/ts_ms: must be integer [type]; ...". */
export function describeLineIssues(issues: readonly ValidationIssue[]): string {
  return issues.map((i) => `${i.path || "/"}: ${i.message} [${i.rule}]`).join("; ");
}
