/**
 * The schema registry of the seed: every contract schema by name, validation
 * by name, and export to a file.
 */
import { writeFileSync, renameSync, rmSync } from "node:fs";
import { nameTargetInError } from "../store/atomic-write.js";
import YAML from "yaml";
import { CONTRACT_NAMES, contracts, type ContractName } from "../contract/contracts.js";
import { parseJsonInput } from "../contract/parse.js";

export const EXPORT_FORMATS = ["json", "yaml"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Every schema, by model name (a fresh copy each call). */
export function getAllSchemas(): Record<ContractName, Record<string, unknown>> {
  return Object.fromEntries(CONTRACT_NAMES.map((name) => [name, getSchema(name)])) as Record<
    ContractName,
    Record<string, unknown>
  >;
}

/** One schema by model name; an unknown name fails, listing the known ones. */
export function getSchema(name: string): Record<string, unknown> {
  return structuredClone(contractFor(name).spec.schema) as Record<string, unknown>;
}

/** Validate JSON (a string or a parsed value) against the named model's contract. */
export function validateEventJson(name: string, json: string | unknown): unknown {
  const contract = contractFor(name);
  return contract.assert(parseJsonInput(contract.spec.name, json));
}

/** The registry's schemas rendered in a format. */
export function renderSchemas(format: string): string {
  assertFormat(format);
  const schemas = getAllSchemas();
  return format === "yaml" ? YAML.stringify(schemas) : `${JSON.stringify(schemas, null, 2)}\n`;
}

/**
 * Write every schema to a file. An unsupported format fails before anything
 * is written; the file is replaced atomically (write, then rename).
 */
export function exportSchemasToFile(outputPath: string, format: ExportFormat | string = "json"): void {
  const text = renderSchemas(format);
  const tmp = `${outputPath}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, outputPath);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw nameTargetInError(e, tmp, outputPath);
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
