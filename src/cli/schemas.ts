/** `session-events schemas export [--format json|yaml] [--version X] [PATH]` */
import { parseArgs } from "node:util";
import { UnknownVersionError } from "../contract/versions.js";
import { assertFormat, contractVersions, exportSchemasToFile, renderSchemas } from "../session/registry.js";
import { UsageError } from "./usage-error.js";

export const schemasExportUsage = `session-events schemas export [--format json|yaml] [--version X] [PATH]

Write every contract JSON Schema (2020-12), keyed by model name, to PATH or,
without PATH, to standard output. Without --format the format follows PATH's
extension (.yaml/.yml: yaml) and is json otherwise. --version picks a released
contract version (known: ${contractVersions().join(", ")}); the default is the
current one.`;

export function schemasExport(args: string[], stdout: NodeJS.WritableStream): void {
  const { values, positionals } = parseArgs({
    args,
    options: { format: { type: "string", short: "f" }, version: { type: "string" } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 1) throw new UsageError(`expected at most one PATH, got ${positionals.length}`);
  const path = positionals[0];
  const format = values.format ?? (path && /\.ya?ml$/i.test(path) ? "yaml" : "json");
  try {
    assertFormat(format);
  } catch (e) {
    throw new UsageError(`--format: ${(e as Error).message}`);
  }
  let text: string;
  try {
    text = renderSchemas(format, values.version);
  } catch (e) {
    if (e instanceof UnknownVersionError) throw new UsageError(`--version: ${e.message}`);
    throw e;
  }
  if (path === undefined || path === "-") stdout.write(text);
  else exportSchemasToFile(path, format, values.version);
}
