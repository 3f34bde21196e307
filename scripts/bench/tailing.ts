/**
 * Tailing: what it costs to hand a subscriber one new record.
 *
 * 1. In one process, against a segment of 1k / 10k / 100k records: after
 *    each append, the new record is read by a log cursor (SegmentLog.follow:
 *    resumes at its byte offset) and by a read from its sequence (log.read,
 *    the way Subscribe read before: a sparse-index seek, then a scan), the
 *    two alternating. Medians of time and frames read per delivered record.
 * 2. 100 subscribers (each following one session) on a collector taking
 *    10,000 VRP events/s from producers; every party its own process. Lag =
 *    send to arrival, p50/p99, for this build (caught-up subscribers share
 *    one live tail) and, when TAILING_BASELINE_DIST names the dist/ of an
 *    earlier build (TAILING_BASELINE_LABEL says which), for that build in
 *    the same run (there: a cursor per subscriber, each reading and decoding
 *    every record).
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { bridges } from "../../src/bridge/index.js";
import { LogEntry } from "../../gen/sessionevents/log/v1/log_entry.js";
import { SegmentLog } from "../../src/store/segment-log.js";
import { startProcess } from "./collector.js";
import { fmt, median, spawnNode } from "./harness.js";

const here = path.dirname(fileURLToPath(import.meta.url));

function entry(i: number): Buffer {
  const event = bridges.VrpEvent.fromJson({
    ts_ms: 1700000000000 + i,
    event_type: "MUTATION_TICK",
    session_id: `sess-${i % 100}`,
    details: { tick: i },
  });
  return Buffer.from(
    LogEntry.encode({
      receivedAt: undefined,
      entry: { $case: "vrpReceived", value: { event, producerId: "bench", producerSequence: BigInt(i) } },
    }).finish(),
  );
}

export interface TailCostRow {
  records: number;
  cursor: { us: number; frames: number };
  read: { us: number; frames: number };
}

export async function benchTailCost({ sizes = [1_000, 10_000, 100_000], rounds = 200 } = {}): Promise<TailCostRow[]> {
  const rows: TailCostRow[] = [];
  for (const records of sizes) {
    const dir = mkdtempSync(path.join(tmpdir(), "bench-tail-"));
    const log = await SegmentLog.open({ dir });
    for (let done = 0; done < records; done += 1000)
      await log.appendGroup(Array.from({ length: Math.min(1000, records - done) }, (_, i) => entry(done + i)));
    const cursor = log.follow(1n);
    for await (const _ of cursor.records()); // caught up
    const t = { cursor: [] as number[], read: [] as number[] };
    const f = { cursor: [] as number[], read: [] as number[] };
    const viaCursor = async () => {
      for await (const _ of cursor.records());
    };
    const viaRead = async (sequence: bigint) => {
      for await (const _ of log.read(sequence));
    };
    for (let r = 0; r < rounds; r++) {
      const sequence = await log.append(entry(records + r));
      const order = r % 2 ? (["cursor", "read"] as const) : (["read", "cursor"] as const);
      for (const way of order) {
        const frames = log.stats.framesRead;
        const start = process.hrtime.bigint();
        await (way === "cursor" ? viaCursor() : viaRead(sequence));
        t[way].push(Number(process.hrtime.bigint() - start) / 1000);
        f[way].push(log.stats.framesRead - frames);
      }
    }
    rows.push({
      records,
      cursor: { us: median(t.cursor), frames: median(f.cursor) },
      read: { us: median(t.read), frames: median(f.read) },
    });
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

export interface LagRow {
  /** Which collector: this build, or the baseline build's label. */
  label: string;
  /** The machine's 1-minute load average when the round started (2 cores, shared). */
  load: number;
  /** Events/s sent and acknowledged after the warm-up. */
  sent: number;
  rate: number;
  acked: number;
  /** Sent in the warm-up, of how many due (a fresh collector's first second is slow: its new files). */
  warmup: { sent: number; due: number };
  received: number;
  p50: number;
  p99: number;
  max: number;
}

function collect(child: ChildProcess): Promise<string> {
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d));
  return new Promise((resolve, reject) =>
    child.on("close", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${child.spawnargs.join(" ")} exited ${code}`)),
    ),
  );
}

export async function benchSubscriberLag({
  subscribers = 100,
  rate = 10_000,
  durationMs = 6000,
  warmupMs = 1500,
} = {}): Promise<LagRow[]> {
  const rows: LagRow[] = [];
  const builds = [{ label: "this build: one live tail shared by caught-up subscribers", dir: here }];
  const baseline = process.env.TAILING_BASELINE_DIST;
  if (baseline)
    builds.unshift({
      label: `baseline: ${process.env.TAILING_BASELINE_LABEL ?? baseline}`,
      dir: path.join(baseline, "scripts/bench"),
    });
  for (const { label, dir } of builds) {
    const server = await startProcess([path.join(dir, "tailing-server.js"), "cursor"], (l) =>
      /^\d+$/.test(l.trim()) ? Number(l) : undefined,
    );
    const target = `127.0.0.1:${server.port}`;
    try {
      const subs = spawnNode(
        [path.join(here, "tailing-subscribers.js"), target, String(subscribers), String(warmupMs)],
        ["ignore", "pipe", "inherit"],
      );
      const subsOut = collect(subs);
      await new Promise<void>((resolve) =>
        subs.stdout!.on("data", (d: Buffer) => d.toString().includes("ready") && resolve()),
      );
      const load = loadavg()[0]!;
      const producers = spawnNode(
        [
          path.join(here, "tailing-producers.js"),
          target,
          String(rate),
          String(subscribers),
          "8",
          String(durationMs),
          String(warmupMs),
        ],
        ["ignore", "pipe", "inherit"],
      );
      type Counts = { scheduled: number; sent: number; acked: number; seconds: number };
      const produced = JSON.parse(await collect(producers)) as Counts & { steady: Counts };
      await new Promise((r) => setTimeout(r, 1000)); // let the subscribers drain what was sent
      subs.kill("SIGTERM");
      const lag = JSON.parse((await subsOut).split("\n").find((l) => l.startsWith("{"))!) as {
        received: number;
        p50: number;
        p99: number;
        max: number;
      };
      rows.push({
        label,
        load,
        sent: produced.steady.sent / produced.steady.seconds,
        rate: produced.steady.acked / produced.steady.seconds,
        acked: produced.acked,
        warmup: { sent: produced.sent - produced.steady.sent, due: produced.scheduled - produced.steady.scheduled },
        received: lag.received,
        p50: lag.p50,
        p99: lag.p99,
        max: lag.max,
      });
    } finally {
      server.child.kill("SIGTERM");
      await new Promise((r) => server.child.once("exit", r));
    }
  }
  return rows;
}

export function tailingTables(cost: TailCostRow[], lag: LagRow[]): string {
  // No lag sample (nothing sent after the warm-up arrived) prints as a dash.
  const ms = (n: number | null) => (typeof n === "number" && Number.isFinite(n) ? `${n.toFixed(1)} ms` : "–");
  const us = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(1)} ms` : `${n.toFixed(0)} µs`);
  return [
    "One new record delivered, against the records in the segment (medians of 200 appends; the two ways alternate):",
    "",
    "| records in segment | log cursor (follow) | frames read | read from sequence (baseline) | frames read | baseline ÷ cursor |",
    "|---:|---:|---:|---:|---:|---:|",
    ...cost.map(
      (r) =>
        `| ${fmt(r.records)} | ${us(r.cursor.us)} | ${r.cursor.frames} | ${us(r.read.us)} | ${r.read.frames} | ${(r.read.us / r.cursor.us).toFixed(1)} |`,
    ),
    "",
    "100 subscribers, each following one of 100 sessions, while producers send 10,000 VRP events/s (8 StreamEvents calls, coalesced Acks); rates and lag (send to arrival at the subscriber) leave out the first 1.5 s of the load:",
    "",
    "| collector | load average | events/s sent (of 10,000 due) | events/s acknowledged | sent in the first 1.5 s (of due) | events received by subscribers | lag p50 | lag p99 | lag max |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...lag.map(
      (r) =>
        `| ${r.label} | ${r.load.toFixed(1)} | ${fmt(r.sent)} | ${fmt(r.rate)} | ${fmt(r.warmup.sent)} (of ${fmt(r.warmup.due)}) | ${fmt(r.received)} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.max)} |`,
    ),
  ].join("\n");
}
