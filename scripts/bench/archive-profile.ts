/**
 * One archive job over the bench's log, for a CPU profile (the bench runs
 * each job beside its baseline; this runs only the job, a few times):
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof dist/scripts/bench/archive-profile.js export|import [MiB] [runs]
 *
 * Prints each run's time beside its baseline's (the same as the bench's).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { exportArchive, importArchive } from "../../src/archive/index.js";
import { eventPool, parseFile, stringifyToFile, writeLog } from "./archive.js";

const [job = "export", mib = "32", runs = "3"] = process.argv.slice(2);
const cpuOf = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;
const tmp = mkdtempSync(path.join(tmpdir(), "archive-profile-"));
try {
  const pool = eventPool();
  const log = writeLog(path.join(tmp, "log"), Number(mib) * 2 ** 20, pool);
  const jsonl = path.join(tmp, "export.jsonl");
  await exportArchive(path.join(tmp, "log"), { output: jsonl });
  for (let r = 0; r < Number(runs); r++) {
    const started = performance.now();
    const cpu = process.cpuUsage();
    if (job === "export") await exportArchive(path.join(tmp, "log"), { output: path.join(tmp, "again.jsonl") });
    else await importArchive(jsonl, { output: path.join(tmp, "import.seg") });
    const seconds = (performance.now() - started) / 1000;
    const cpuSeconds = cpuOf(process.cpuUsage(cpu));
    const baseStarted = performance.now();
    const baseCpu = process.cpuUsage();
    if (job === "export") await stringifyToFile(path.join(tmp, "baseline.jsonl"), log.events, pool);
    else await parseFile(jsonl);
    const baseline = (performance.now() - baseStarted) / 1000;
    const baseCpuSeconds = cpuOf(process.cpuUsage(baseCpu));
    // CPU time too: on a busy machine it is the steadier ratio (wall time waits for the cores).
    console.log(
      `${job}: ${seconds.toFixed(2)} s, baseline ${baseline.toFixed(2)} s: ${(seconds / baseline).toFixed(2)}x; ` +
        `CPU ${cpuSeconds.toFixed(2)} s, baseline ${baseCpuSeconds.toFixed(2)} s: ${(cpuSeconds / baseCpuSeconds).toFixed(2)}x (${log.events} events)`,
    );
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
