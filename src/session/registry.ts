/**
 * The schema registry of the seed: every contract schema by name, validation
 * by name, and export to a file.
 */
import { writeFileSync, renameSync, rmSync } from "node:fs";
import YAML from "yaml";
import { CONTRACT_NAMES, contracts, type ContractName } from "../contract/contracts.js";
import { parseJsonInput } from "../contract/parse.js";
import { RELEASED, SESSION_CONTRACT_NAMES, type SessionContractName } from "../contract/versions.js";

export const EXPORT_FORMATS = ["json", "yaml"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Every schema of a contract version (default: the current one), by model name (a fresh copy each call). */
export function getAllSchemas(version?: string): Record<ContractName, Record<string, unknown>> {
  return Object.fromEntries(CONTRACT_NAMES.map((name) => [name, getSchema(name, version)])) as Record<
    ContractName,
    Record<string, unknown>
  >;
}

/**
 * One schema by model name, as of a contract version (default: the current
 * one); an unknown name or version fails, listing the known ones. The VRP
 * envelope is versioned by its own schema_version: every session contract
 * version carries the same one.
 */
export function getSchema(name: string, version?: string): Record<string, unknown> {
  const contract = contractFor(name);
  const release = RELEASED.get(version); // an unknown version fails here, for every name alike
  const schema = (SESSION_CONTRACT_NAMES as readonly string[]).includes(name) ? release.schemas[name as SessionContractName] : contract.spec.schema;
  return structuredClone(schema) as Record<string, unknown>;
}

/** The contract versions this build knows, oldest first; the last is the current one. */
export function contractVersions(): string[] {
  return RELEASED.versions;
}

/** Validate JSON (a string or a parsed value) against the named model's contract. */
export function validateEventJson(name: string, json: string | unknown): unknown {
  const contract = contractFor(name);
  return contract.assert(parseJsonInput(contract.spec.name, json));
}

/** The registry's schemas (of a version; default the current one) rendered in a format. */
export function renderSchemas(format: string, version?: string): string {
  assertFormat(format);
  const schemas = getAllSchemas(version);
  return format === "yaml" ? YAML.stringify(schemas) : `${JSON.stringify(schemas, null, 2)}\n`;
}

/**
 * Write every schema to a file. An unsupported format fails before anything
 * is written; the file is replaced atomically (write, then rename).
 */
export function exportSchemasToFile(outputPath: string, format: ExportFormat | string = "json", version?: string): void {
  const text = renderSchemas(format, version);
  const tmp = `${outputPath}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, outputPath);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

export function assertFormat(format: string): asserts format is ExportFormat {
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) {
    throw new Error(`Unsupported format: ${JSON.stringify(format)} (expected one of: ${EXPORT_FORMATS.join(", ")})`);
  }
}

function contractFor(name: string) {
  if (!Object.hasOwn(contracts, name)) {
    throw new Error(`Unknown model: ${JSON.stringify(name)} (known models: ${CONTRACT_NAMES.join(", ")})`);
  }
  return contracts[name as ContractName];
}
