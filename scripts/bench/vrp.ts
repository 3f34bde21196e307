/**
 * VRP stream benchmark: events per second through one bidirectional
 * StreamEvents call (load generator in its own process, 256 events
 * unacknowledged at most), against the real collector (validation, state
 * machine, fsync'ed log with group commit, ack after durability) and against
 * a bare grpc-js bidirectional echo with the same messages, in the same run,
 * alternating round by round. Memory: each server's peak resident set
 * (VmHWM) at the end.
 */
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startCollectorProcess, startProcess, stopProcess } from "./collector.js";
import { fmt, median, runForJson } from "./harness.js";

const here = path.dirname(fileURLToPath(import.meta.url));

function load(
  port: number,
  durationMs: number,
  window: number,
  coalesce: boolean,
): Promise<{ count: number; seconds: number; answers: number }> {
  return runForJson("vrp load generator", [
    path.join(here, "vrp-load.js"),
    `127.0.0.1:${port}`,
    String(durationMs),
    String(window),
    coalesce ? "1" : "0",
  ]);
}

/** Peak resident set size of a process, in MiB (Linux /proc). */
function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Events/s (median of the rounds) and answers (messages) per event, for one server and one way of acknowledging. */
export interface VrpRow {
  rate: number;
  answersPerEvent: number;
}

export interface VrpBenchResult {
  /** The bare echo: one Ack per event (the baseline), and one Ack per read burst. */
  bare: { perEvent: VrpRow; coalesced: VrpRow; peakMiB: number };
  /** The collector: one Ack per event (a producer that does not ask), and coalesced Acks (VrpProducer). */
  collector: { perEvent: VrpRow; coalesced: VrpRow; peakMiB: number };
  /** Per round, median: collector coalesced ÷ echo per event (the goal), and like for like. */
  ratio: { goal: number; perEvent: number; coalesced: number };
  /** Load average (1 min) of the machine before and after the rounds. */
  load: [number, number];
}

type Run = { rate: number; answersPerEvent: number };

export async function benchVrp({ rounds = 5, durationMs = 3000, window = 256 } = {}): Promise<VrpBenchResult> {
  const loadBefore = loadavg()[0]!;
  const bare = await startProcess([path.join(here, "vrp-bare-server.js")], (l) =>
    /^\d+$/.test(l.trim()) ? Number(l) : undefined,
  );
  const collector = await startCollectorProcess();
  const runs = {
    bareEach: [] as Run[],
    collectorEach: [] as Run[],
    bareCoalesced: [] as Run[],
    collectorCoalesced: [] as Run[],
  };
  const run = async (port: number, coalesce: boolean): Promise<Run> => {
    const x = await load(port, durationMs, window, coalesce);
    return { rate: x.count / x.seconds, answersPerEvent: x.answers / x.count };
  };
  try {
    for (let r = 0; r < rounds; r++) {
      runs.bareEach.push(await run(bare.port, false));
      runs.collectorEach.push(await run(collector.port, false));
      runs.bareCoalesced.push(await run(bare.port, true));
      runs.collectorCoalesced.push(await run(collector.port, true));
    }
    const row = (rs: Run[]): VrpRow => ({
      rate: median(rs.map((x) => x.rate)),
      answersPerEvent: median(rs.map((x) => x.answersPerEvent)),
    });
    const ratio = (a: Run[], b: Run[]) => median(a.map((x, i) => x.rate / b[i]!.rate));
    return {
      bare: { perEvent: row(runs.bareEach), coalesced: row(runs.bareCoalesced), peakMiB: peakRssMiB(bare.child.pid!) },
      collector: {
        perEvent: row(runs.collectorEach),
        coalesced: row(runs.collectorCoalesced),
        peakMiB: peakRssMiB(collector.child.pid!),
      },
      ratio: {
        goal: ratio(runs.collectorCoalesced, runs.bareEach),
        perEvent: ratio(runs.collectorEach, runs.bareEach),
        coalesced: ratio(runs.collectorCoalesced, runs.bareCoalesced),
      },
      load: [loadBefore, loadavg()[0]!],
    };
  } finally {
    await stopProcess(bare);
    await stopProcess(collector);
  }
}

export function vrpTable(r: VrpBenchResult): string {
  const line = (server: string, acks: string, x: VrpRow, peak: string) =>
    `| ${server} | ${acks} | ${fmt(x.rate)} | ${x.answersPerEvent.toFixed(2)} | ${peak} |`;
  return [
    "| server | Acks | events/s | answers per event | peak memory (VmHWM) |",
    "|---|---|---:|---:|---:|",
    line("bare grpc-js bidirectional echo", "one per event", r.bare.perEvent, `${r.bare.peakMiB.toFixed(0)} MiB`),
    line("bare grpc-js bidirectional echo", "coalesced (one per read burst)", r.bare.coalesced, ""),
    line("collector StreamEvents", "one per event", r.collector.perEvent, `${r.collector.peakMiB.toFixed(0)} MiB`),
    line("collector StreamEvents", "coalesced (VrpProducer's default)", r.collector.coalesced, ""),
    "",
    `Collector with coalesced Acks ÷ echo with one Ack per event (per round, median): **${r.ratio.goal.toFixed(2)}**`,
    "",
    `Like for like: one Ack per event ${r.ratio.perEvent.toFixed(2)}; coalesced ${r.ratio.coalesced.toFixed(2)}.`,
    "",
    `Load average (1 min) of the machine: ${r.load[0].toFixed(2)} before the run, ${r.load[1].toFixed(2)} after.`,
  ].join("\n");
}
