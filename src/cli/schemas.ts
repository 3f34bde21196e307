/** `session-events schemas export [--format json|yaml] [PATH]` */
import { parseArgs } from "node:util";
import { assertFormat, exportSchemasToFile, renderSchemas } from "../session/registry.js";
import { UsageError } from "./usage-error.js";

export const schemasExportUsage = `session-events schemas export [--format json|yaml] [PATH]

Write every contract JSON Schema (2020-12), keyed by model name, to PATH or,
without PATH, to standard output. Without --format the format follows PATH's
extension (.yaml/.yml: yaml) and is json otherwise.`;

export function schemasExport(args: string[], stdout: NodeJS.WritableStream): void {
  const { values, positionals } = parseArgs({
    args,
    options: { format: { type: "string", short: "f" } },
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
  if (path === undefined || path === "-") stdout.write(renderSchemas(format));
  else exportSchemasToFile(path, format);
}
