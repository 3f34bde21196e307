/**
 * The protobuf half of the compatibility check: `buf breaking` with the
 * project's own rules (buf.yaml's `breaking` section, WIRE_JSON), run on a
 * proto tree against a baseline image, its findings turned into Changes.
 * buf reports breaking changes only; an additive protobuf change (a new
 * optional field) shows in the JSON Schema half, where the contract names it.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { SessionEventsError } from "../../errors.js";
import { change, type Change } from "./rules.js";

/** The package root (this file is dist/src/contract/evolution/buf-breaking.js). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");

export interface BufBreakingOptions {
  /** The working proto tree (a buf module root: proto/). */
  readonly protoDir: string;
  /** The baseline image (`buf build -o`). */
  readonly image: string;
  /** The buf binary (default: the package's, else `buf` on PATH). */
  readonly buf?: string;
  /** The buf.yaml whose `breaking` section holds the rules (default: the package's). */
  readonly config?: string;
}

/** buf could not run or answered something that is not a finding. */
export class BufError extends SessionEventsError {
  override readonly name = "BufError";
  constructor(message: string) {
    super(message, { code: "FAILED_PRECONDITION" });
  }
}

interface BufFinding {
  path: string;
  start_line?: number;
  type: string;
  message: string;
}

export function bufBreaking(options: BufBreakingOptions): Change[] {
  const buf = options.buf ?? defaultBuf();
  const breaking = projectRules(options.config ?? path.join(PACKAGE_ROOT, "buf.yaml"));
  const r = spawnSync(
    buf,
    [
      "breaking",
      options.protoDir,
      "--against",
      options.image,
      "--error-format",
      "json",
      "--config",
      JSON.stringify({ version: "v2", breaking }),
    ],
    {
      encoding: "utf8",
      maxBuffer: 16 << 20,
    },
  );
  if (r.error) throw new BufError(`cannot run buf (${buf}): ${r.error.message}`);
  // 0: nothing breaks; 100: findings (buf's exit code for them); anything else: buf itself failed.
  if (r.status !== 0 && r.status !== 100)
    throw new BufError(`buf breaking failed (exit ${r.status}): ${r.stderr.trim() || r.stdout.trim()}`);
  const findings: BufFinding[] = [];
  for (const line of r.stdout.split("\n")) {
    if (line.trim() === "") continue;
    try {
      findings.push(JSON.parse(line) as BufFinding);
    } catch {
      throw new BufError(`buf breaking printed something that is not a JSON finding: ${line}`);
    }
  }
  if (r.status === 100 && findings.length === 0) throw new BufError(`buf breaking failed: ${r.stderr.trim()}`);
  return findings.map((f) => {
    const file = path.isAbsolute(f.path) ? path.relative(path.resolve(options.protoDir), f.path) : f.path;
    return change("protobuf", "protobuf_breaking", `${file}:${f.start_line ?? 0}`, f.message, f.type);
  });
}

function defaultBuf(): string {
  const local = path.join(PACKAGE_ROOT, "node_modules/.bin/buf");
  return existsSync(local) ? local : "buf";
}

function projectRules(configFile: string): unknown {
  let parsed: { breaking?: unknown };
  try {
    parsed = YAML.parse(readFileSync(configFile, "utf8")) as { breaking?: unknown };
  } catch (e) {
    throw new BufError(`cannot read the breaking rules from ${configFile}: ${(e as Error).message}`);
  }
  if (!parsed?.breaking) throw new BufError(`${configFile} has no breaking section`);
  return parsed.breaking;
}
