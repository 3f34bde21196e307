/**
 * VRP stream benchmark: events per second through one bidirectional
 * StreamEvents call (load generator in its own process, 256 events
 * unacknowledged at most), against the real collector (validation, state
 * machine, fsync'ed log with group commit, ack after durability) and against
 * a bare grpc-js bidirectional echo with the same messages, in the same run,
 * alternating round by round. Memory: each server's peak resident set
 * (VmHWM) at the end.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startCollectorProcess, startProcess, stopProcess } from "./collector.js";
import { fmt, median } from "./harness.js";

const here = path.dirname(fileURLToPath(import.meta.url));

function load(port: number, durationMs: number, window: number): Promise<{ count: number; seconds: number }> {
  const child = spawn(
    process.execPath,
    [path.join(here, "vrp-load.js"), `127.0.0.1:${port}`, String(durationMs), String(window)],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d));
  return new Promise((resolve, reject) =>
    child.on("close", (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`vrp load generator exited ${code}`)),
    ),
  );
}

/** Peak resident set size of a process, in MiB (Linux /proc). */
function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

export interface VrpBenchResult {
  bare: { rate: number; peakMiB: number };
  collector: { rate: number; peakMiB: number };
  ratio: number;
  /** Load average (1 min) of the machine before and after the rounds. */
  load: [number, number];
}

export async function benchVrp({ rounds = 5, durationMs = 3000, window = 256 } = {}): Promise<VrpBenchResult> {
  const loadBefore = loadavg()[0]!;
  const bare = await startProcess([path.join(here, "vrp-bare-server.js")], (l) =>
    /^\d+$/.test(l.trim()) ? Number(l) : undefined,
  );
  const collector = await startCollectorProcess();
  try {
    const b: number[] = [];
    const c: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const x = await load(bare.port, durationMs, window);
      b.push(x.count / x.seconds);
      const y = await load(collector.port, durationMs, window);
      c.push(y.count / y.seconds);
    }
    return {
      bare: { rate: median(b), peakMiB: peakRssMiB(bare.child.pid!) },
      collector: { rate: median(c), peakMiB: peakRssMiB(collector.child.pid!) },
      ratio: median(c.map((v, i) => v / b[i]!)),
      load: [loadBefore, loadavg()[0]!],
    };
  } finally {
    await stopProcess(bare);
    await stopProcess(collector);
  }
}

export function vrpTable(r: VrpBenchResult): string {
  return [
    "| server | events/s | peak memory (VmHWM) |",
    "|---|---:|---:|",
    `| bare grpc-js bidirectional echo | ${fmt(r.bare.rate)} | ${r.bare.peakMiB.toFixed(0)} MiB |`,
    `| collector StreamEvents | ${fmt(r.collector.rate)} | ${r.collector.peakMiB.toFixed(0)} MiB |`,
    "",
    `Collector ÷ bare (per round, median): **${r.ratio.toFixed(2)}**`,
    "",
    `Load average (1 min) of the machine: ${r.load[0].toFixed(2)} before the run, ${r.load[1].toFixed(2)} after.`,
  ].join("\n");
}
