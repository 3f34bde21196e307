/**
 * Raw append cost of the log engines, one run, interleaved rounds: the
 * embedded SegmentLog (fsync per batch), JetStreamLog with 1 replica on a
 * 1-node nats-server, and JetStreamLog with 3 replicas on a 3-node cluster
 * (all on this machine's loopback: the cluster's cost here is CPU and
 * round trips, not a network). 64 appends of 200 bytes in flight, from one
 * process; latency is per append, acknowledgement included.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { EventLog } from "../../src/store/event-log.js";
import { JetStreamEngine } from "../../src/store/jetstream/engine.js";
import { SegmentLog } from "../../src/store/segment-log.js";
import { NatsCluster } from "../../test/support/nats-cluster.js";
import { median } from "./harness.js";

const IN_FLIGHT = 64;
const ROUND_MS = 2000;
const ROUNDS = 3;
const payload = new Uint8Array(200).fill(7);

interface Row {
  readonly name: string;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

async function round(log: EventLog): Promise<{ count: number; latencies: number[] }> {
  const latencies: number[] = [];
  const end = performance.now() + ROUND_MS;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await log.append(payload);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { count: latencies.length, latencies };
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

export async function benchJetStreamAppend(): Promise<Row[]> {
  const dir = mkdtempSync(path.join(tmpdir(), "se-bench-log-"));
  const one = await NatsCluster.start({ nodes: 1 });
  const three = await NatsCluster.start({ nodes: 3 });
  const engines: JetStreamEngine[] = [];
  try {
    const segment = await SegmentLog.open({ dir });
    const r1 = await JetStreamEngine.open({ servers: one.servers.split(","), prefix: "bench", replicas: 1 });
    const r3 = await JetStreamEngine.open({ servers: three.servers.split(","), prefix: "bench", replicas: 3 });
    engines.push(r1, r3);
    const variants: [string, EventLog][] = [
      ["SegmentLog (file, fsync)", segment],
      ["JetStreamLog R1, 1 node", r1.logs.vrp],
      ["JetStreamLog R3, 3 nodes", r3.logs.vrp],
    ];
    const rates = new Map<string, number[]>();
    const lat = new Map<string, number[]>();
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, log] of variants) {
        const { count, latencies } = await round(log);
        rates.set(name, [...(rates.get(name) ?? []), (count * 1000) / ROUND_MS]);
        lat.set(name, [...(lat.get(name) ?? []), ...latencies]);
      }
    }
    await segment.close();
    return variants.map(([name]) => {
      const sorted = lat.get(name)!.sort((a, b) => a - b);
      return { name, perSecond: median(rates.get(name)!), p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99) };
    });
  } finally {
    await Promise.allSettled(engines.map((e) => e.close()));
    await Promise.allSettled([one.destroy(), three.destroy()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

export function jetstreamAppendTable(rows: readonly Row[]): string {
  const base = rows[0]!.perSecond;
  return [
    "| engine | appends/s | ratio to SegmentLog | p50 ms | p99 ms |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...rows.map(
      (r) =>
        `| ${r.name} | ${Math.round(r.perSecond)} | ${(r.perSecond / base).toFixed(2)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} |`,
    ),
  ].join("\n");
}
