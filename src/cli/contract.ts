/** `session-events contract check --against BASELINE [--json] [--schemas FILE] [--proto DIR]` */
import { existsSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { PACKAGE_ROOT } from "../contract/evolution/buf-breaking.js";
import { baselineSchemasPath, checkContract, readSchemaSet, type CheckReport } from "../contract/evolution/check.js";
import { CHANGE_RULES } from "../contract/evolution/rules.js";
import { getAllSchemas } from "../session/registry.js";
import { UsageError } from "./usage-error.js";

export const contractCheckUsage = `session-events contract check --against BASELINE [--json] [--schemas FILE] [--proto DIR]

Compare the working contract with a released one and report every change
with its class under the specification's rules (docs/contract-evolution.md):
the JSON Schemas of the session types, and the protobuf by \`buf breaking\`
with the project's rules (buf.yaml). Then the verdict: the version bump the
changes need (none, minor, major) and whether the working event_version is
that version.

  --against BASELINE   the baseline image (e.g. proto/baseline.binpb); its JSON
                       Schemas are read from beside it (proto/baseline.schemas.json)
  --schemas FILE       the working JSON Schemas, as \`schemas export\` writes them
                       (default: this build's current contract)
  --proto DIR          the working proto tree (default: this package's proto/)
  --json               one JSON object: versions, changes, verdict

Exit status: 0 when event_version matches the bump the changes need, 1 when
it does not (or the check could not run), 2 for a wrong flag.`;

export function contractCheck(args: string[], stdout: NodeJS.WritableStream): number {
  const { values, positionals } = parseArgs({
    args,
    options: {
      against: { type: "string" },
      json: { type: "boolean" },
      schemas: { type: "string" },
      proto: { type: "string" },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}`);
  if (values.against === undefined)
    throw new UsageError("--against: the baseline image is required, e.g. --against proto/baseline.binpb");
  const image = values.against;
  const schemasFile = baselineSchemasPath(image);
  if (!existsSync(image)) throw new UsageError(`--against: no baseline image at ${image}`);
  if (!existsSync(schemasFile))
    throw new UsageError(
      `--against: no baseline JSON Schemas beside the image (expected ${schemasFile}; scripts/refresh-baseline.sh writes both)`,
    );
  if (values.schemas !== undefined && !existsSync(values.schemas))
    throw new UsageError(`--schemas: no file ${values.schemas}`);
  const protoDir = values.proto ?? path.join(PACKAGE_ROOT, "proto");
  if (!existsSync(protoDir)) throw new UsageError(`--proto: no directory ${protoDir}`);

  const report = checkContract({
    baseline: { image, schemas: readSchemaSet(schemasFile, "baseline") },
    working: {
      protoDir,
      schemas: values.schemas === undefined ? getAllSchemas() : readSchemaSet(values.schemas, "--schemas"),
    },
  });
  stdout.write(values.json ? `${JSON.stringify(asJson(report, image))}\n` : render(report, image));
  return report.matches ? 0 : 1;
}

function asJson(report: CheckReport, image: string) {
  return {
    baseline: { image, version: report.baselineVersion },
    working: { version: report.workingVersion },
    changes: report.changes,
    needed: report.needed,
    expected_version: report.expectedVersion,
    matches: report.matches,
  };
}

function render(report: CheckReport, image: string): string {
  const lines = [
    `contract check: working ${report.workingVersion} against baseline ${report.baselineVersion} (${image})`,
  ];
  if (report.changes.length === 0) lines.push("  no changes");
  for (const c of report.changes)
    lines.push(`  ${c.bump.padEnd(5)}  ${c.rule}${c.keyword ? ` (${c.keyword})` : ""}  ${c.where}: ${c.message}`);
  const verdict =
    report.needed === "none"
      ? `no bump needed: event_version stays ${report.baselineVersion}`
      : `a ${report.needed} bump is needed: event_version ${report.baselineVersion} -> ${report.expectedVersion} (${CHANGE_RULES[report.changes.find((c) => c.bump === report.needed)!.rule].summary})`;
  lines.push(`verdict: ${verdict}`);
  lines.push(
    report.matches
      ? `working event_version ${report.workingVersion}: matches`
      : `working event_version ${report.workingVersion}: does NOT match; it must be ${report.expectedVersion}`,
  );
  return `${lines.join("\n")}\n`;
}
