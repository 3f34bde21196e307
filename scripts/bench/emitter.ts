/**
 * The emitter as its host sees it (the collector in its own process):
 *
 * - Host-visible latency of emitSessionStart, one call at a time, with an
 *   empty spool (baseline) and while a backlog of BACKLOG events spooled
 *   during an outage drains in the background, alternating round by round.
 *   The ratio is the backlog p99 ÷ the baseline p99 of the same round.
 * - Spool disk use: bytes of the spool directory at its peak (DELIVERED
 *   events spooled while the collector was down) and after all of them were
 *   delivered.
 *
 * EMITTER_BENCH_BACKLOG, EMITTER_BENCH_DELIVERED, EMITTER_BENCH_ROUNDS change the sizes.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { SessionEventEmitter } from "../../src/client/emitter.js";
import { startCollectorProcess, stopProcess } from "./collector.js";
import { fmt, median } from "./harness.js";

const BACKLOG = Number(process.env.EMITTER_BENCH_BACKLOG ?? 10_000);
const DELIVERED = Number(process.env.EMITTER_BENCH_DELIVERED ?? 100_000);
const ROUNDS = Number(process.env.EMITTER_BENCH_ROUNDS ?? 3);
const CALLS = 300;

export interface EmitterRound {
  readonly baseline: { p50: number; p99: number };
  readonly draining: { p50: number; p99: number };
  /** Events still waiting when the measured calls ended (> 0: they were all made during the drain). */
  readonly backlogLeft: number;
  /** Events/s the background sender delivered while the host's calls ran, and after them (the host idle). */
  readonly drainRate: { busy: number; idle: number };
}

export interface EmitterBench {
  readonly rounds: EmitterRound[];
  readonly disk: {
    events: number;
    peakBytes: number;
    afterBytes: number;
    afterStateBytes: number;
    afterPlaceholderBytes: number;
    spoolSeconds: number;
    drainSeconds: number;
  };
}

async function deadTarget(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return `127.0.0.1:${port}`;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function timeCalls(emitter: SessionEventEmitter): Promise<{ p50: number; p99: number }> {
  const ms: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const t0 = performance.now();
    const id = await emitter.emitSessionStart({ shellType: "BenchShell" });
    ms.push(performance.now() - t0);
    if (!id) throw new Error("a call returned nothing");
  }
  ms.sort((a, b) => a - b);
  return { p50: percentile(ms, 50), p99: percentile(ms, 99) };
}

/** Spool `n` starts with the collector down (100 calls at a time, so appends share fsyncs). */
async function spoolBacklog(spoolDir: string, n: number): Promise<void> {
  const down = new SessionEventEmitter({
    target: await deadTarget(),
    componentName: "bench",
    spoolDir,
    breaker: { failureThreshold: 1, openMs: 3_600_000 },
    maxSpoolBytes: 2 ** 40,
  });
  for (let done = 0; done < n; done += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, n - done) }, () => down.emitSessionStart({ shellType: "BacklogShell" })),
    );
  }
  await down.close();
}

async function drainAll(emitter: SessionEventEmitter): Promise<void> {
  while ((await emitter.flush(), emitter.stats().spooledEvents > 0)) await new Promise((r) => setTimeout(r, 20));
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    total += entry.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return total;
}

export async function benchEmitter(): Promise<EmitterBench> {
  const collector = await startCollectorProcess();
  const target = `127.0.0.1:${collector.port}`;
  try {
    const rounds: EmitterRound[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const idle = mkdtempSync(path.join(tmpdir(), "bench-emitter-idle-"));
      const up = new SessionEventEmitter({ target, componentName: "bench", spoolDir: idle });
      await up.flush();
      const baseline = await timeCalls(up);
      await up.close();
      rmSync(idle, { recursive: true, force: true });

      const spoolDir = mkdtempSync(path.join(tmpdir(), "bench-emitter-backlog-"));
      await spoolBacklog(spoolDir, BACKLOG);
      const draining = new SessionEventEmitter({ target, componentName: "bench", spoolDir, maxSpoolBytes: 2 ** 40 });
      const t0 = performance.now();
      const measured = await timeCalls(draining);
      const busySeconds = (performance.now() - t0) / 1000;
      const backlogLeft = draining.stats().spooledEvents;
      const t1 = performance.now();
      await drainAll(draining);
      const idleSeconds = (performance.now() - t1) / 1000;
      await draining.close();
      rmSync(spoolDir, { recursive: true, force: true });
      const drainRate = { busy: (BACKLOG - backlogLeft) / busySeconds, idle: backlogLeft / idleSeconds };
      rounds.push({ baseline, draining: measured, backlogLeft, drainRate });
    }

    const spoolDir = mkdtempSync(path.join(tmpdir(), "bench-emitter-disk-"));
    const t0 = performance.now();
    await spoolBacklog(spoolDir, DELIVERED);
    const spoolSeconds = (performance.now() - t0) / 1000;
    const peakBytes = dirBytes(spoolDir);
    const t1 = performance.now();
    const up = new SessionEventEmitter({
      target,
      componentName: "bench",
      spoolDir,
      maxSpoolBytes: 2 ** 40,
      senderConcurrency: 64,
    });
    await drainAll(up);
    const drainSeconds = (performance.now() - t1) / 1000;
    await up.close(); // the last state, and the reclaimed generation, on disk
    const afterBytes = dirBytes(spoolDir);
    const afterStateBytes = statSync(path.join(spoolDir, "state.json")).size;
    const journal = path.join(spoolDir, "placeholders.jsonl");
    const afterPlaceholderBytes = existsSync(journal) ? statSync(journal).size : 0;
    rmSync(spoolDir, { recursive: true, force: true });
    const disk = {
      events: DELIVERED,
      peakBytes,
      afterBytes,
      afterStateBytes,
      afterPlaceholderBytes,
      spoolSeconds,
      drainSeconds,
    };
    return { rounds, disk };
  } finally {
    await stopProcess(collector);
  }
}

export function emitterTables(b: EmitterBench): string {
  const ms = (n: number) => n.toFixed(2);
  const ratio = median(b.rounds.map((r) => r.draining.p99 / r.baseline.p99));
  const rows = [
    `| emitSessionStart, one at a time (${CALLS} calls a round) | p50 ms | p99 ms |`,
    "|---|---:|---:|",
    `| collector up, spool empty (baseline) | ${ms(median(b.rounds.map((r) => r.baseline.p50)))} | ${ms(median(b.rounds.map((r) => r.baseline.p99)))} |`,
    `| while a ${fmt(BACKLOG)}-event backlog drains | ${ms(median(b.rounds.map((r) => r.draining.p50)))} | ${ms(median(b.rounds.map((r) => r.draining.p99)))} |`,
    "",
    `p99 while draining ÷ baseline p99, median of ${b.rounds.length} rounds: **${ratio.toFixed(2)}×** (goal ≤ 2×). ` +
      `Events still waiting when each round's calls ended: ${b.rounds.map((r) => fmt(r.backlogLeft)).join(", ")} (all calls were made during the drain when > 0). ` +
      `Drain rate (default senderConcurrency), median: ${fmt(Math.round(median(b.rounds.map((r) => r.drainRate.busy))))} events/s while the host's calls ran, ` +
      `${fmt(Math.round(median(b.rounds.map((r) => r.drainRate.idle))))} events/s after them.`,
    "",
    `| spool disk use, ${fmt(b.disk.events)} events | bytes |`,
    "|---|---:|",
    `| at the peak (all spooled, collector down; took ${b.disk.spoolSeconds.toFixed(1)} s) | ${fmt(b.disk.peakBytes)} |`,
    `| after all were delivered (${b.disk.drainSeconds.toFixed(1)} s, ${fmt(Math.round(b.disk.events / b.disk.drainSeconds))} events/s at senderConcurrency 64) and the emitter closed: all files | ${fmt(b.disk.afterBytes)} |`,
    `| of which the log (a fresh generation) | ${fmt(b.disk.afterBytes - b.disk.afterStateBytes - b.disk.afterPlaceholderBytes)} |`,
    `| of which state.json | ${fmt(b.disk.afterStateBytes)} |`,
    `| of which placeholders.jsonl: the placeholders still in their window (every start was spooled, so every one has one) | ${fmt(b.disk.afterPlaceholderBytes)} |`,
  ];
  return rows.join("\n");
}
