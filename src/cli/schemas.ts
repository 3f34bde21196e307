/** `session-events schemas export [--format json|yaml] [--version X] [-o FILE]` */
import { parseArgs } from "node:util";
import { UnknownVersionError } from "../contract/versions.js";
import { assertFormat, contractVersions, exportSchemasToFile, renderSchemas } from "../session/registry.js";
import { UsageError } from "./usage-error.js";

export const schemasExportUsage = `session-events schemas export [--format json|yaml] [--version X] [-o FILE]

Write every contract JSON Schema (2020-12), keyed by model name, to FILE
(replaced whole: written aside, then renamed) or, without -o or with "-o -",
to standard output. Without --format the format follows FILE's extension
(.yaml/.yml: yaml) and is json otherwise. (Older form: FILE as an argument.)
--version picks a released contract version (known: ${contractVersions().join(", ")});
the default is the current one. Needs no collector: no --target.`;

export function schemasExport(args: string[], stdout: NodeJS.WritableStream): void {
  const { values, positionals } = parseArgs({
    args,
    options: {
      format: { type: "string", short: "f" },
      version: { type: "string" },
      output: { type: "string", short: "o" },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 1) throw new UsageError(`expected at most one FILE, got ${positionals.length}`);
  if (positionals.length === 1 && values.output !== undefined)
    throw new UsageError(`--output: give the file once (-o FILE, or FILE alone, not both)`);
  const path = values.output ?? positionals[0];
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
