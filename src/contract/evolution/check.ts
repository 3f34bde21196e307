/**
 * `contract check`: the working contract against a released baseline, both
 * halves (JSON Schemas and protobuf) at once, and the verdict: which version
 * bump the changes need, and whether the working `event_version` is it.
 *
 * A baseline is the image `buf breaking` compares with (proto/baseline.binpb)
 * and, beside it, the released JSON Schemas in the form `schemas export`
 * writes (proto/baseline.schemas.json); scripts/refresh-baseline.sh writes both.
 */
import { readFileSync } from "node:fs";
import type { JsonSchema } from "../validate.js";
import { parseVersion, SESSION_CONTRACT_NAMES } from "../versions.js";
import { bufBreaking } from "./buf-breaking.js";
import { neededBump, type Bump, type Change } from "./rules.js";
import { diffSchemaSets } from "./schema-diff.js";
import { SessionEventsError } from "../../errors.js";

export type SchemaSet = Readonly<Record<string, JsonSchema>>;

export interface CheckInput {
  readonly baseline: { readonly image: string; readonly schemas: SchemaSet };
  readonly working: { readonly protoDir: string; readonly schemas: SchemaSet };
  /** The buf binary and buf.yaml (defaults: the package's). */
  readonly buf?: string;
  readonly bufConfig?: string;
}

/** The outcome of `checkContract`: every change found with its class, the bump they need, and whether the working event_version has it. */
export interface CheckReport {
  readonly baselineVersion: string;
  readonly workingVersion: string;
  readonly changes: readonly Change[];
  /** The bump the changes need. */
  readonly needed: Bump;
  /** The version the working contract must carry. */
  readonly expectedVersion: string;
  /** The working event_version is the expected one. */
  readonly matches: boolean;
}

/** A baseline or working contract that cannot be checked (unreadable, or without one event_version). */
export class ContractCheckError extends SessionEventsError {
  override readonly name = "ContractCheckError";
  constructor(message: string) {
    super(message, { code: "INVALID_ARGUMENT" });
  }
}

/**
 * Compare the working contract with a released baseline (JSON Schemas by the
 * specification's evolution rules; protobuf with `buf breaking`, which must be
 * installed) and say which version bump the changes need.
 */
export function checkContract(input: CheckInput): CheckReport {
  const baselineVersion = versionOf(input.baseline.schemas, "baseline");
  const workingVersion = versionOf(input.working.schemas, "working contract");
  const changes = [
    ...diffSchemaSets(sessionSchemas(input.baseline.schemas), sessionSchemas(input.working.schemas)),
    ...bufBreaking({
      protoDir: input.working.protoDir,
      image: input.baseline.image,
      buf: input.buf,
      config: input.bufConfig,
    }),
  ];
  const needed = neededBump(changes);
  const expectedVersion = bumped(baselineVersion, needed);
  return {
    baselineVersion,
    workingVersion,
    changes,
    needed,
    expectedVersion,
    matches: workingVersion === expectedVersion,
  };
}

/** The schemas beside a baseline image: proto/baseline.binpb -> proto/baseline.schemas.json. */
export function baselineSchemasPath(image: string): string {
  return image.replace(/(\.binpb|\.bin|\.pb)?$/, ".schemas.json");
}

/** A schema set as `schemas export` writes it (JSON, keyed by contract type). */
export function readSchemaSet(file: string, what: string): SchemaSet {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new ContractCheckError(`${what}: cannot read ${file}: ${(e as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new ContractCheckError(`${what}: ${file} must hold a JSON object of schemas keyed by contract type`);
  return parsed as SchemaSet;
}

/** The session contract types only: the VRP envelope is versioned by its own schema_version. */
function sessionSchemas(set: SchemaSet): SchemaSet {
  return Object.fromEntries(
    Object.entries(set).filter(([name]) => (SESSION_CONTRACT_NAMES as readonly string[]).includes(name)),
  );
}

/** The one event_version every session schema of a set carries. */
function versionOf(set: SchemaSet, what: string): string {
  const versions = new Set<unknown>();
  for (const schema of Object.values(sessionSchemas(set)))
    versions.add((schema as { event_version?: unknown }).event_version);
  if (versions.size === 0)
    throw new ContractCheckError(
      `${what}: holds none of the session contract types (${SESSION_CONTRACT_NAMES.join(", ")})`,
    );
  if (versions.size > 1)
    throw new ContractCheckError(
      `${what}: its schemas disagree on event_version (${[...versions].map((v) => JSON.stringify(v)).join(", ")}); they must all carry one`,
    );
  const [version] = versions;
  if (typeof version !== "string" || !parseVersion(version))
    throw new ContractCheckError(`${what}: event_version ${JSON.stringify(version)} is not MAJOR.MINOR`);
  return version;
}

/** The version a bump leads to from `version`. */
export function bumped(version: string, bump: Bump): string {
  const { major, minor } = parseVersion(version)!;
  if (bump === "major") return `${major + 1}.0`;
  if (bump === "minor") return `${major}.${minor + 1}`;
  return version;
}
