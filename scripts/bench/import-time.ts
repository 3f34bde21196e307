/**
 * What importing each entry of the package costs a fresh Node process: wall
 * time of `node -e "await import('session-events/…')"`, interleaved rounds,
 * beside a bare `node -e 0` measured in the same rounds (the baseline).
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { fmt, median } from "./harness.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const IMPORT_ENTRIES = [
  "session-events",
  "session-events/client",
  "session-events/server",
  "session-events/archive",
  "session-events/log",
  "session-events/pb",
];

function spawnMs(code: string): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], { cwd: root, stdio: "ignore" });
  if (r.status !== 0) throw new Error(`node -e ${code}: exit ${r.status}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export interface ImportTime {
  readonly entry: string;
  readonly medianMs: number;
  /** Median of each round's (entry − baseline). */
  readonly overBaselineMs: number;
}

export function benchImportTime(rounds = 21): { baselineMs: number; entries: ImportTime[] } {
  const baseline: number[] = [];
  const times = new Map<string, number[]>(IMPORT_ENTRIES.map((e) => [e, []]));
  const over = new Map<string, number[]>(IMPORT_ENTRIES.map((e) => [e, []]));
  for (let round = 0; round < rounds; round++) {
    const base = spawnMs("0");
    baseline.push(base);
    for (const entry of IMPORT_ENTRIES) {
      const ms = spawnMs(`await import(${JSON.stringify(entry)});`);
      times.get(entry)!.push(ms);
      over.get(entry)!.push(ms - base);
    }
  }
  return {
    baselineMs: median(baseline),
    entries: IMPORT_ENTRIES.map((entry) => ({
      entry,
      medianMs: median(times.get(entry)!),
      overBaselineMs: median(over.get(entry)!),
    })),
  };
}

export function importTimeTable({ baselineMs, entries }: ReturnType<typeof benchImportTime>): string {
  const rows = entries.map(
    (e) =>
      `| \`import("${e.entry}")\` | ${fmt(e.medianMs)} | ${fmt(e.overBaselineMs)} | ${(e.medianMs / baselineMs).toFixed(2)} |`,
  );
  return [
    "| process | median ms | over baseline, ms | × baseline |",
    "|---|---:|---:|---:|",
    `| \`node -e 0\` (baseline) | ${fmt(baselineMs)} | 0 | 1.00 |`,
    ...rows,
  ].join("\n");
}
