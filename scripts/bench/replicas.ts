/**
 * Collector replicas on JetStream against the file engine, in one run,
 * interleaved round by round: EmitSessionStart with 256 calls in flight and
 * VRP events/s through StreamEvents (256 unacknowledged per stream), for
 *
 * - the file engine (one `serve`, fsync'ed log);
 * - JetStream R1 on a 1-node nats-server, one replica;
 * - 3 replicas on a 3-node cluster (R3), the load spread over the three
 *   (starts: one load process per replica, 256/3 in flight each; VRP: one
 *   stream per replica, each its own session).
 *
 * Everything runs on this machine: load generators, collectors and NATS
 * servers share its cores, so the cluster's figures are its CPU and round
 * trips, not a network's.
 */
import { rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { NatsCluster } from "../../test/support/nats-cluster.js";
import { startCollectorProcess, stopProcess } from "./collector.js";
import { fmt, median, runForJson } from "./harness.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const IN_FLIGHT = 256;
const WINDOW = 256;

type Serving = Awaited<ReturnType<typeof startCollectorProcess>>;

/** A collector of this build with `extra` flags (the JetStream engine's, or none for the file engine). */
const serve = (extra: string[]): Promise<Serving> => startCollectorProcess(undefined, extra);

const jetstream = (cluster: NatsCluster) => cluster.serveArgs("bench");

function run(script: string, args: string[]): Promise<{ count: number; seconds: number; errors?: number }> {
  return runForJson(script, [path.join(here, script), ...args]);
}

/** Starts/s over all replicas: one load process per replica, the calls in flight split between them. */
async function starts(ports: number[], durationMs: number): Promise<{ rate: number; errors: number }> {
  const each = Math.ceil(IN_FLIGHT / ports.length);
  const results = await Promise.all(
    ports.map((p) => run("load.js", [`127.0.0.1:${p}`, String(each), String(durationMs)])),
  );
  return {
    rate: results.reduce((n, r) => n + r.count / r.seconds, 0),
    errors: results.reduce((n, r) => n + (r.errors ?? 0), 0),
  };
}

/** VRP events/s over all replicas: one stream per replica. */
async function vrpEvents(ports: number[], durationMs: number): Promise<number> {
  const results = await Promise.all(
    ports.map((p) => run("vrp-load.js", [`127.0.0.1:${p}`, String(durationMs), String(WINDOW)])),
  );
  return results.reduce((n, r) => n + r.count / r.seconds, 0);
}

export interface ReplicaRow {
  readonly name: string;
  readonly starts: number;
  readonly startErrors: number;
  readonly vrp: number;
}

export async function benchReplicas({ rounds = 3, durationMs = 3000 } = {}): Promise<ReplicaRow[]> {
  const one = await NatsCluster.start({ nodes: 1 });
  const three = await NatsCluster.start({ nodes: 3 });
  const servers: Serving[] = [];
  try {
    const file = await serve([]);
    servers.push(file);
    const r1 = await serve(jetstream(one));
    servers.push(r1);
    const r3 = await Promise.all([1, 2, 3].map(() => serve(jetstream(three))));
    servers.push(...r3);
    const variants: [string, number[]][] = [
      ["file engine, 1 collector", [file.port]],
      ["JetStream R1, 1 node, 1 replica", [r1.port]],
      ["JetStream R3, 3 nodes, 3 replicas", r3.map((s) => s.port)],
    ];
    const s = new Map<string, number[]>();
    const e = new Map<string, number>();
    const v = new Map<string, number[]>();
    for (let r = 0; r < rounds; r++) {
      for (const [name, ports] of variants) {
        const got = await starts(ports, durationMs);
        s.set(name, [...(s.get(name) ?? []), got.rate]);
        e.set(name, (e.get(name) ?? 0) + got.errors);
        v.set(name, [...(v.get(name) ?? []), await vrpEvents(ports, durationMs)]);
      }
    }
    return variants.map(([name]) => ({
      name,
      starts: median(s.get(name)!),
      startErrors: e.get(name)!,
      vrp: median(v.get(name)!),
    }));
  } finally {
    await Promise.allSettled(servers.map((p) => stopProcess(p)));
    await Promise.allSettled([one.destroy(), three.destroy()]);
    for (const p of servers) rmSync(p.dataDir, { recursive: true, force: true });
  }
}

export function replicasTable(rows: ReplicaRow[]): string {
  const base = rows[0]!;
  return [
    "| engine | EmitSessionStart/s (256 in flight) | ratio | errors | VRP events/s | ratio |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map(
      (r) =>
        `| ${r.name} | ${fmt(r.starts)} | ${(r.starts / base.starts).toFixed(2)} | ${r.startErrors} | ${fmt(r.vrp)} | ${(r.vrp / base.vrp).toFixed(2)} |`,
    ),
  ].join("\n");
}
