/**
 * Latency under large events: how long a small EmitSessionStart takes (one
 * call in flight, back to back, scripts/bench/load.ts in its own process)
 * against the real collector, with no other load and while three clients
 * keep sending maximum-size events (--max-event-bytes, 256 KiB of small
 * metadata keys; scripts/bench/max-senders.ts, in a process of its own), in
 * the same run, alternating round by round. The ratio is the loaded p99 ÷
 * the unloaded p99 of the same round, median over rounds.
 *
 * Beside it, where one max-size event's time goes inside the collector, stage
 * by stage, with the generated code (ts-proto) and with the contract codec.
 *
 * LATENCY_BENCH_CLI=path/to/bin.js measures another build of the collector
 * (an older commit, say) with the same harness.
 */
import type { ChildProcess } from "node:child_process";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { mkdtempSync, rmSync } from "node:fs";
import os, { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { bridges } from "../../src/bridge/index.js";
import { decodeMessage, decodeUtf8Strictly, encodeMessage } from "../../src/bridge/codec.js";
import { sessionStartEventMapping } from "../../src/bridge/mapping.js";
import { SessionStartEvent } from "../../src/session/models.js";
import { LogEntry } from "../../gen/sessionevents/log/v1/log_entry.js";
import { SessionStartEvent as StartMessage } from "../../gen/oneiric/session/v1/session_events.js";
import { parseServeConfig } from "../../src/cli/serve-config.js";
import { silentLogger } from "../../src/server/logger.js";
import { startServer } from "../../src/server/server.js";
import { sessionStartOfSize } from "./big-event.js";
import { startCollectorProcess, stopProcess } from "./collector.js";
import { fmt, median, runForJson, spawnNode, timeFor } from "./harness.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../../..");
const cli = process.env.LATENCY_BENCH_CLI ?? path.join(root, "dist/src/cli/bin.js");

export const MAX_EVENT_BYTES = 262144;
const SENDERS = 3;

interface Probe {
  count: number;
  errors: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
}

function probe(port: number, durationMs: number): Promise<Probe> {
  return runForJson("probe", [path.join(here, "load.js"), `127.0.0.1:${port}`, "1", String(durationMs)]);
}

interface Senders {
  count: number;
  errors: number;
  seconds: number;
  codes: Record<string, number>;
}

/** Start the senders; resolves once each has had an answer, with a function that stops them and gives their figures. */
async function startSenders(port: number, maxMs: number): Promise<() => Promise<Senders>> {
  const child: ChildProcess = spawnNode(
    [path.join(here, "max-senders.js"), `127.0.0.1:${port}`, String(SENDERS), String(MAX_EVENT_BYTES), String(maxMs)],
    ["ignore", "pipe", "inherit"],
  );
  let out = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      out += d;
      if (out.startsWith("ready\n")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`senders exited ${code} before they were ready`)));
  });
  return () =>
    new Promise((resolve, reject) => {
      child.removeAllListeners("exit");
      child.on("exit", (code) =>
        code === 0
          ? resolve(JSON.parse(out.slice("ready\n".length)) as Senders)
          : reject(new Error(`senders exited ${code}`)),
      );
      child.kill("SIGTERM");
    });
}

const startCollector = () => startCollectorProcess(cli);

export interface LatencyResult {
  /** The machine's load average (1 min) before and after the run: other work on a shared machine shows here. */
  load: [number, number];
  idle: { p50: number; p99: number; rate: number };
  loaded: { p50: number; p99: number; rate: number; errors: number };
  senders: { rate: number; errors: number; codes: Record<string, number> };
  ratioP99: number;
  ratioP50: number;
  keys: number;
  /** One more loaded phase with the collector in this process: how late its event loop ran, and the small call meanwhile. */
  eventLoop: { p50: number; p99: number; max: number; probeP50: number; probeP99: number };
  stages: { name: string; tsProto: number; codec: number }[];
}

export async function benchLatency({ rounds = 3, durationMs = 5000 } = {}): Promise<LatencyResult> {
  const loadBefore = os.loadavg()[0]!;
  const collector = await startCollector();
  try {
    const idle: Probe[] = [];
    const loaded: Probe[] = [];
    const senders: Senders[] = [];
    await probe(collector.port, 500); // warm-up
    for (let r = 0; r < rounds; r++) {
      idle.push(await probe(collector.port, durationMs));
      const stop = await startSenders(collector.port, durationMs * 4);
      loaded.push(await probe(collector.port, durationMs));
      senders.push(await stop());
    }
    const rate = (x: { count: number; seconds: number }) => x.count / x.seconds;
    const event = sessionStartOfSize(
      MAX_EVENT_BYTES,
      SessionStartEvent.create({ componentName: "bench", shellType: "BenchShell" }),
    );
    return {
      load: [loadBefore, os.loadavg()[0]!],
      idle: {
        p50: median(idle.map((x) => x.p50Ms)),
        p99: median(idle.map((x) => x.p99Ms)),
        rate: median(idle.map(rate)),
      },
      loaded: {
        p50: median(loaded.map((x) => x.p50Ms)),
        p99: median(loaded.map((x) => x.p99Ms)),
        rate: median(loaded.map(rate)),
        errors: loaded.reduce((n, x) => n + x.errors, 0),
      },
      senders: {
        rate: median(senders.map(rate)),
        errors: senders.reduce((n, x) => n + x.errors, 0),
        codes: senders.reduce<Record<string, number>>((all, x) => {
          for (const [k, v] of Object.entries(x.codes)) all[k] = (all[k] ?? 0) + v;
          return all;
        }, {}),
      },
      ratioP99: median(loaded.map((x, i) => x.p99Ms / idle[i]!.p99Ms)),
      ratioP50: median(loaded.map((x, i) => x.p50Ms / idle[i]!.p50Ms)),
      keys: Object.keys(event.metadata ?? {}).length,
      eventLoop: await eventLoopUnderLoad(durationMs),
      stages: stages(event),
    };
  } finally {
    await stopProcess(collector);
  }
}

/**
 * The collector in this process (the same code as `serve`, this build only),
 * the senders and the probe as before: the event loop's delay (how long a
 * ready callback waited, sampled every millisecond) says how much of the
 * small call's wait is the collector's CPU, and how much is not (the disk).
 */
async function eventLoopUnderLoad(durationMs: number): Promise<LatencyResult["eventLoop"]> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "bench-latency-inproc-"));
  const server = await startServer(
    parseServeConfig(["--address", "127.0.0.1:0", "--data-dir", dataDir], {}),
    silentLogger,
  );
  try {
    const stop = await startSenders(server.port, durationMs * 4);
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const p = await probe(server.port, durationMs);
    delay.disable();
    await stop();
    return {
      p50: delay.percentile(50) / 1e6,
      p99: delay.percentile(99) / 1e6,
      max: delay.max / 1e6,
      probeP50: p.p50Ms,
      probeP99: p.p99Ms,
    };
  } finally {
    await server.shutdown(0);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Milliseconds per max-size event for each stage of EmitSessionStart, generated code beside the codec (median of 9 rounds). */
function stages(json: ReturnType<typeof sessionStartOfSize>): LatencyResult["stages"] {
  const bytes = bridges.SessionStartEvent.toBinary(json);
  const generated = StartMessage.decode(bytes);
  const ms = (fn: () => unknown) => median(Array.from({ length: 9 }, () => 1000 / timeFor(fn, 150)));
  const lazy = () => decodeMessage<StartMessage>(sessionStartEventMapping, bytes, { lazyStructs: true });
  const decoded = lazy(); // toJson and encodeMessage leave it unread
  const logEntry = (event: StartMessage) =>
    LogEntry.encode({
      receivedAt: undefined,
      entry: { $case: "sessionStarted", value: { sessionId: "s", event } },
    }).finish();
  return [
    {
      name: "decode (strict)",
      tsProto: ms(() => StartMessage.decode(new BinaryReader(bytes, decodeUtf8Strictly))),
      codec: ms(lazy),
    },
    {
      name: "validate (toJson)",
      tsProto: ms(() => bridges.SessionStartEvent.toJson(generated)),
      codec: ms(() => bridges.SessionStartEvent.toJson(decoded)),
    },
    {
      name: "encode: size check + log entry",
      tsProto: ms(() => [StartMessage.encode(generated).finish().length, logEntry(generated)]),
      codec: ms(() => encodeMessage(sessionStartEventMapping, decoded).finish()),
    },
    {
      name: "building the metadata object, when something reads it",
      tsProto: 0,
      codec: ms(() => lazy().metadata) - ms(lazy),
    },
  ];
}

export function latencyTables(r: LatencyResult): string {
  const ms = (n: number) => `${n.toFixed(2)} ms`;
  return [
    `Small call: EmitSessionStart of a ${"~300"}-byte event, one in flight. Senders: ${SENDERS} clients, each keeping one EmitSessionStart of exactly ${fmt(MAX_EVENT_BYTES)} bytes (${fmt(r.keys)} metadata keys) in flight.`,
    "",
    "| small call | calls/s | p50 | p99 |",
    "|---|---:|---:|---:|",
    `| alone | ${fmt(r.idle.rate)} | ${ms(r.idle.p50)} | ${ms(r.idle.p99)} |`,
    `| beside ${SENDERS} max-size senders | ${fmt(r.loaded.rate)} | ${ms(r.loaded.p50)} | ${ms(r.loaded.p99)} |`,
    "",
    `Load average (1 min) of the machine: ${r.load[0].toFixed(2)} before the run, ${r.load[1].toFixed(2)} after${cli === path.join(root, "dist/src/cli/bin.js") ? "" : `; collector: ${cli}`}.`,
    "",
    `Loaded ÷ alone, per round, median: p50 **${r.ratioP50.toFixed(2)}×**, p99 **${r.ratioP99.toFixed(2)}×**. Max-size events stored meanwhile: ${fmt(r.senders.rate)}/s (${((r.senders.rate * MAX_EVENT_BYTES) / 2 ** 20).toFixed(1)} MiB/s); refused: ${r.senders.errors}${r.senders.errors ? ` (${JSON.stringify(r.senders.codes)})` : ""}; small calls failed: ${r.loaded.errors}.`,
    "",
    `The same load once more, with the collector in the benchmark's own process: its event loop ran late by p50 ${ms(r.eventLoop.p50)}, p99 ${ms(r.eventLoop.p99)}, at most ${ms(r.eventLoop.max)}, while the small call took p50 ${ms(r.eventLoop.probeP50)}, p99 ${ms(r.eventLoop.probeP99)}.`,
    "",
    `One max-size event inside the collector, per stage (ms, median; in the benchmark's own process):`,
    "",
    "| stage | generated code (ts-proto) | contract codec |",
    "|---|---:|---:|",
    ...r.stages.slice(0, 3).map((s) => `| ${s.name} | ${s.tsProto.toFixed(2)} | ${s.codec.toFixed(2)} |`),
    `| **EmitSessionStart's path** | **${r.stages
      .slice(0, 3)
      .reduce((n, s) => n + s.tsProto, 0)
      .toFixed(2)}** | **${r.stages
      .slice(0, 3)
      .reduce((n, s) => n + s.codec, 0)
      .toFixed(2)}** |`,
    ...r.stages.slice(3).map((s) => `| ${s.name} (not on that path) | — | ${s.codec.toFixed(2)} |`),
  ].join("\n");
}
