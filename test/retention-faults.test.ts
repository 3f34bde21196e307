/**
 * Retention under faults: a process appending under load and running
 * retention passes with an archive directory is SIGKILLed, again and again,
 * at varied moments. Every acknowledged record must be in the log or in a
 * verified archive under its final name; no final name may hold a partial
 * or unverifiable archive.
 */
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readArchive, verifyArchive } from "../src/archive/index.js";
import { SegmentLog } from "../src/store/segment-log.js";
import { tempDir } from "./support/repo.js";

const child = path.join(path.dirname(fileURLToPath(import.meta.url)), "support/retention-child.js");
const FINAL = /^(\d{20})-(\d{20})\.jsonl\.gz$/;

/** Run the child until it has archived past `archivesAtLeast` files, plus `extraMs`; then SIGKILL. Resolves with the acknowledged sequences. */
async function runAndKill(
  dataDir: string,
  archiveDir: string,
  archivesAtLeast: number,
  extraMs: number,
): Promise<bigint[]> {
  const proc = spawn(process.execPath, [child, dataDir, archiveDir], { stdio: ["ignore", "pipe", "pipe"] });
  const acked: bigint[] = [];
  let partial = "";
  let stderr = "";
  proc.stdout.on("data", (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split("\n");
    partial = lines.pop()!;
    for (const line of lines) if (line.startsWith("A ")) acked.push(BigInt(line.slice(2)));
  });
  proc.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  try {
    const deadline = Date.now() + 20_000;
    while (readdirSync(archiveDir).filter((n) => FINAL.test(n)).length < archivesAtLeast) {
      if (proc.exitCode !== null) throw new Error(`the child exited: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`no archive after 20 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 5)); // polling the directory, with a deadline
    }
    await new Promise((r) => setTimeout(r, extraMs)); // a varied moment inside the next passes
  } finally {
    proc.kill("SIGKILL");
    await exited;
  }
  return acked;
}

test("SIGKILL during retention passes with an archive directory loses no acknowledged record", async () => {
  const dataDir = tempDir();
  const archiveDir = tempDir();
  const acked = new Set<bigint>();
  let first = 1n;
  for (const [round, extraMs] of [0, 3, 11, 29, 47].entries()) {
    for (const s of await runAndKill(dataDir, archiveDir, round + 1, extraMs)) acked.add(s);
    // Every final name is a whole, verified archive, named by its first and last record.
    const kept = new Set<bigint>();
    for (const name of readdirSync(archiveDir).filter((n) => FINAL.test(n))) {
      const [, first, last] = FINAL.exec(name)!;
      const summary = await verifyArchive(path.join(archiveDir, name)); // throws on a torn or damaged archive
      assert.is(summary.damaged, 0, name);
      assert.equal(
        [summary.firstSequence, summary.lastSequence],
        [String(BigInt(first!)), String(BigInt(last!))],
        name,
      );
      for await (const event of readArchive(path.join(archiveDir, name))) kept.add(event.log!.sequence!);
    }
    // The log reopens (recovery cuts only a crash tail) and holds the rest.
    const log = await SegmentLog.open({ dir: dataDir, segmentBytes: 2048 });
    for await (const record of log.read()) kept.add(record.sequence);
    first = log.firstSequence;
    await log.close();
    const lost = [...acked].filter((s) => !kept.has(s));
    assert.equal(lost, [], `round ${round}: acknowledged records neither in the log nor in an archive`);
  }
  // A kill may land between an archive and its segment's removal (the next pass removes it): judged after all rounds.
  assert.ok(first > 1n, "retention removed segments");
  assert.ok(acked.size > 100, `${acked.size} acknowledged records`);
});

test.run();
