/**
 * One archive job in a process of its own, so that its peak resident set
 * (VmHWM) is the job's alone. Prints {peakMiB, seconds, events} as JSON.
 *
 *   node archive-memory.js idle                    the library loaded, nothing run
 *   node archive-memory.js export INPUT OUTPUT     exportArchive to a JSON Lines file
 *   node archive-memory.js import INPUT OUTPUT     importArchive to a segment file
 */
import { readFileSync } from "node:fs";
import { exportArchive, importArchive, type ArchiveSummary } from "../../src/archive/index.js";

const [job, input, output] = process.argv.slice(2);

async function run(): Promise<ArchiveSummary | undefined> {
  if (job === "export") return exportArchive(input!, { output: output! });
  if (job === "import") return importArchive(input!, { output: output! });
  if (job === "idle") return undefined;
  throw new Error(`unknown job ${job}`);
}

const started = performance.now();
const summary = await run();
const seconds = (performance.now() - started) / 1000;
const peak = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
console.log(JSON.stringify({ peakMiB: peak ? Number(peak[1]) / 1024 : NaN, seconds, events: summary?.written ?? 0 }));
