/**
 * The schema registry of the seed: every contract schema by name, validation
 * by name, and export to a file.
 */
import YAML from "yaml";
import { CONTRACT_NAMES, contracts, type ContractJson, type ContractName } from "../contract/contracts.js";
import { parseJsonInput } from "../contract/parse.js";
import { RELEASED, SESSION_CONTRACT_NAMES, type SessionContractName } from "../contract/versions.js";
import { SessionEventsError } from "../errors.js";
import { writeFileAtomicSync } from "../store/atomic-write.js";

/** The file formats `exportSchemasToFile` writes. */
export const EXPORT_FORMATS = ["json", "yaml"] as const;
/** One of EXPORT_FORMATS. */
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/**
 * Every schema of a contract version (default: the current one), by model name (a fresh copy each call).
 * @example
 * ```ts
 * import { getAllSchemas } from "session-events";
 * console.log(Object.keys(getAllSchemas())); // SessionStartEvent, SessionEndEvent, UserInfo, EnvironmentInfo, VrpEvent
 * ```
 */
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
 * @example
 * ```ts
 * import { getSchema } from "session-events";
 * const schema = getSchema("SessionEndEvent");
 * ```
 */
export function getSchema(name: string, version?: string): Record<string, unknown> {
  const contract = contractFor(name);
  const release = RELEASED.get(version); // an unknown version fails here, for every name alike
  const schema = (SESSION_CONTRACT_NAMES as readonly string[]).includes(name)
    ? release.schemas[name as SessionContractName]
    : contract.spec.schema;
  return structuredClone(schema) as Record<string, unknown>;
}

/** The contract versions this build knows, oldest first; the last is the current one. */
export function contractVersions(): string[] {
  return RELEASED.versions;
}

/**
 * Validate JSON (a string or a parsed value) against the named model's contract;
 * with a known model name the result is typed as that model's contract JSON.
 * @example
 * ```ts
 * import { validateEventJson } from "session-events";
 * const event = validateEventJson("SessionEndEvent", { session_id: "s", timestamp: "2026-02-06T13:45:00Z", event_version: "1.0" });
 * ```
 */
export function validateEventJson<N extends ContractName>(name: N, json: string | unknown): ContractJson<N>;
export function validateEventJson(name: string, json: string | unknown): unknown;
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
 * is written; the file is replaced atomically and durably (write, fsync, rename, fsync the directory).
 * @example
 * ```ts
 * import { exportSchemasToFile } from "session-events";
 * exportSchemasToFile("event_schemas.json");
 * ```
 */
export function exportSchemasToFile(
  outputPath: string,
  format: ExportFormat | string = "json",
  version?: string,
): void {
  writeFileAtomicSync(outputPath, renderSchemas(format, version));
}

export function assertFormat(format: string): asserts format is ExportFormat {
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) {
    const message = `Unsupported format: ${JSON.stringify(format)} (expected one of: ${EXPORT_FORMATS.join(", ")})`;
    throw new SessionEventsError(message, {
      code: "INVALID_ARGUMENT",
      issues: [{ path: "format", rule: "enum", message }],
    });
  }
}

function contractFor(name: string) {
  if (!Object.hasOwn(contracts, name)) {
    const message = `Unknown model: ${JSON.stringify(name)} (known models: ${CONTRACT_NAMES.join(", ")})`;
    throw new SessionEventsError(message, { code: "NOT_FOUND", issues: [{ path: "name", rule: "enum", message }] });
  }
  return contracts[name as ContractName];
}
