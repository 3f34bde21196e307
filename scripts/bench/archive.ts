/**
 * Archive benchmark: exportArchive (a collector data directory -> JSON Lines)
 * and importArchive (JSON Lines -> a segment file), each beside the JSON half
 * of the same job done by hand, in the same run, round by round:
 *
 *   export baseline: JSON.stringify of the same events (contract JSON already
 *                    in memory), "\n"-joined in batches, written to a file and
 *                    fsync'ed, as the exporter's sink does
 *   import baseline: the exported file read in 1 MiB chunks, cut at "\n",
 *                    JSON.parse of each line
 *
 * Why these baselines: any JSON Lines exporter must stringify and write the
 * file, and any importer must read and parse it; what the jobs add on top
 * (framing and checksums, protobuf, the contract's validation, conversion) is
 * the library's own cost, and the cost column is that, in baselines. A
 * baseline without the file would charge the disk to the library.
 *
 * Memory: each job again in a process of its own (archive-memory.ts), its
 * peak resident set (VmHWM) at the end, and the median of its resident set
 * sampled while it ran (the peak alone may be one transient spike): for a
 * ~100 MiB log and a 1 GiB one (ARCHIVE_BENCH_BYTES), so the table shows
 * whether memory grows with the input, beside a process that only loads the
 * library.
 *
 * While working: ARCHIVE_BENCH_ROUNDS (5), ARCHIVE_BENCH_LOG_BYTES (the
 * throughput log, 32 MiB), ARCHIVE_BENCH_MEMORY=0 (no memory runs);
 * archive-profile.ts runs one job under --cpu-prof.
 */
import { once } from "node:events";
import {
  closeSync,
  createReadStream,
  createWriteStream,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { crc32 } from "node:zlib";
import { exportArchive, importArchive } from "../../src/archive/index.js";
import { bridges } from "../../src/bridge/index.js";
import { parseTimestamp } from "../../src/contract/timestamp.js";

import { LogEntry } from "../../gen/sessionevents/log/v1/log_entry.js";
import { validEnd, validStart, validVrp } from "../../test/support/fixtures.js";
import { fmt, median, spawnNode } from "./harness.js";
import { BenchSegmentWriter } from "./segment-writer.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const MiB = 2 ** 20;
/** The collector's default segment size (store/segment-log.ts): logs are cut into files of this size. */
const SEGMENT_BYTES = 64 * MiB;
/** Distinct sessions (10 events each) in the pool the logs cycle through. */
const SESSIONS = 2000;
/** The sink's batch size (archive/sink.ts), for the export baseline. */
const BATCH_CHARS = 256 * 1024;

// A session as the collector logs it: its start, eight VRP events, its end.
const VRP_TYPES = [
  "SESSION_CREATED",
  "CANDIDATES_DISCOVERED",
  "PATH_SELECTED",
  "MUTATION_TICK",
  "VOLATILITY_SIGNAL",
  "MUTATION_TICK",
  "RECOVERY_SIGNAL",
  "PATH_SELECTED",
];

export interface PoolEvent {
  /** The contract JSON, exactly as the export writes it (the bridge's own output). */
  readonly json: unknown;
  /** The LogEntry's bytes, as the collector stores them. */
  readonly payload: Uint8Array;
}

function session(i: number): PoolEvent[] {
  const t0 = Date.UTC(2026, 1, 6, 12) + i * 60_000;
  const at = (ms: number) => parseTimestamp(new Date(ms).toISOString());
  const sessionId = `sess_${i.toString(36).padStart(6, "0")}`;
  const start = {
    ...validStart(),
    event_id: `550e8400-e29b-41d4-a716-${(446655440000 + i).toString(16).padStart(12, "0")}`,
    timestamp: new Date(t0).toISOString(),
    pid: 1000 + (i % 30_000),
    metadata:
      i % 2
        ? { custom: "data" }
        : {
            test_mode: false,
            workspace: `/home/john/projects/p${i % 17}`,
            git_branch: "main",
            git_commit: ((i * 2654435761) >>> 0).toString(16),
          },
  };
  const end = {
    ...validEnd(),
    session_id: sessionId,
    timestamp: new Date(t0 + 10_000).toISOString(),
    metadata: { exit_reason: i % 5 ? "user_exit" : "timeout" },
  };
  const started = bridges.SessionStartEvent.fromJson(start);
  const ended = bridges.SessionEndEvent.fromJson(end);
  const events: PoolEvent[] = [
    {
      json: bridges.SessionStartEvent.toJson(started),
      payload: LogEntry.encode({
        receivedAt: at(t0 + 3),
        entry: { $case: "sessionStarted", value: { sessionId, event: started } },
      }).finish(),
    },
  ];
  VRP_TYPES.forEach((type, k) => {
    const vrp = bridges.VrpEvent.fromJson({
      ...validVrp(),
      ts_ms: t0 + 1000 * (k + 1),
      event_type: type,
      session_id: sessionId,
      node_id: `node-${i % 7}`,
      details: { path: `udp/${k % 3}`, rtt_ms: 10 + ((i + k) % 50) / 2 },
    });
    events.push({
      json: bridges.VrpEvent.toJson(vrp),
      payload: LogEntry.encode({
        receivedAt: at(t0 + 1000 * (k + 1) + 2),
        entry: {
          $case: "vrpReceived",
          value: { event: vrp, producerId: `producer-${i % 4}`, producerSequence: BigInt(i * 8 + k + 1) },
        },
      }).finish(),
    });
  });
  events.push({
    json: bridges.SessionEndEvent.toJson(ended),
    payload: LogEntry.encode({
      receivedAt: at(t0 + 10_003),
      entry: { $case: "sessionEnded", value: { sessionId, event: ended } },
    }).finish(),
  });
  return events;
}

/** The events the logs cycle through (SESSIONS sessions of 10). */
export const eventPool = (): PoolEvent[] => Array.from({ length: SESSIONS }, (_, i) => session(i)).flat();

/**
 * A data directory of at least `bytes`, cut into segments like the
 * collector's (each with its segment header), cycling through the pool.
 * Frames are laid out in place in big chunks (a gigabyte in seconds), each
 * payload's checksum computed once; the first frame is checked against
 * encodeFrame.
 */
export function writeLog(
  dir: string,
  bytes: number,
  pool: readonly PoolEvent[],
): { bytes: number; events: number; segments: number } {
  mkdirSync(dir, { recursive: true });
  const writer = new BenchSegmentWriter(dir, Math.max(...pool.map((e) => e.payload.length)));
  const checksums = pool.map((e) => crc32(e.payload));
  let events = 0;
  while (writer.total < bytes) {
    writer.startSegment(events + 1);
    while (writer.segmentSize < SEGMENT_BYTES && writer.total < bytes) {
      writer.add(events + 1, pool[events % pool.length]!.payload, checksums[events % pool.length]);
      events++;
    }
  }
  writer.close();
  return { bytes: writer.total, events, segments: writer.segments };
}

/** Export baseline: the same events' JSON, stringified and written the way the sink writes (batches, backpressure, fsync). */
export async function stringifyToFile(file: string, events: number, pool: readonly PoolEvent[]): Promise<void> {
  const out = createWriteStream(file);
  let batch: string[] = [];
  let chars = 0;
  for (let i = 0; i < events; i++) {
    const line = `${JSON.stringify(pool[i % pool.length]!.json)}\n`;
    batch.push(line);
    chars += line.length;
    if (chars >= BATCH_CHARS) {
      if (!out.write(batch.join(""))) await once(out, "drain");
      batch = [];
      chars = 0;
    }
  }
  out.end(batch.join(""));
  await once(out, "close");
  const fd = openSync(file, "r");
  fsyncSync(fd);
  closeSync(fd);
}

/** Import baseline: read the file in the reader's chunk size, cut lines, JSON.parse each. Returns the lines. */
export async function parseFile(file: string): Promise<number> {
  let rest: Buffer = Buffer.alloc(0);
  let lines = 0;
  let sink: unknown;
  for await (const chunk of createReadStream(file, { highWaterMark: MiB }) as AsyncIterable<Buffer>) {
    const buf = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
    let start = 0;
    for (let end = buf.indexOf(10); end >= 0; end = buf.indexOf(10, start)) {
      sink = JSON.parse(buf.toString("utf8", start, end));
      lines++;
      start = end + 1;
    }
    rest = buf.subarray(start);
  }
  if (sink === Symbol.for("never")) console.log(sink); // keep the result alive
  return lines;
}

async function seconds(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return (performance.now() - start) / 1000;
}

interface MemoryRun {
  peakMiB: number;
  /** Median of the resident set sampled while the job ran: where it settles, beside the peak. */
  typicalMiB: number;
  seconds: number;
  events: number;
}

function inChild(args: string[]): Promise<MemoryRun> {
  const child = spawnNode([path.join(here, "archive-memory.js"), ...args], ["ignore", "pipe", "inherit"]);
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d));
  const samples: number[] = [];
  const sampler = setInterval(() => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
      if (m) samples.push(Number(m[1]) / 1024);
    } catch {
      // it has just ended
    }
  }, 500);
  return new Promise((resolve, reject) =>
    child.on("close", (code) => {
      clearInterval(sampler);
      if (code !== 0) return reject(new Error(`archive-memory ${args[0]} exited ${code}`));
      const run = JSON.parse(out) as Omit<MemoryRun, "typicalMiB">;
      resolve({ ...run, typicalMiB: samples.length > 0 ? median(samples) : run.peakMiB });
    }),
  );
}

const sizeOf = (p: string): number =>
  statSync(p).isDirectory() ? readdirSync(p).reduce((n, f) => n + statSync(path.join(p, f)).size, 0) : statSync(p).size;

export interface JobTiming {
  name: string;
  /** Median seconds over rounds. */
  seconds: number;
  events: number;
  inBytes?: number;
  outBytes?: number;
  /** Median over rounds of (this job's time ÷ its baseline's time in the same round). */
  cost: number;
}

export interface MemoryRow {
  name: string;
  inBytes?: number;
  run: MemoryRun;
}

export interface ArchiveBenchResult {
  log: { bytes: number; events: number; segments: number; jsonBytes: number; distinct: number };
  rounds: number;
  timings: JobTiming[];
  memory: MemoryRow[];
}

export async function benchArchive({
  rounds = Number(process.env.ARCHIVE_BENCH_ROUNDS ?? 5),
  // The jobs stream, so their rate is flat past a few MiB: this is enough for
  // rounds of seconds, and leaves time for the 1 GiB run below.
  throughputBytes = Number(process.env.ARCHIVE_BENCH_LOG_BYTES ?? 32 * MiB),
  mediumBytes = 100 * MiB,
  bigBytes = Number(process.env.ARCHIVE_BENCH_BYTES ?? 2 ** 30),
  // ARCHIVE_BENCH_MEMORY=0: the throughput table only (a quick look while working).
  measureMemory = process.env.ARCHIVE_BENCH_MEMORY !== "0",
} = {}): Promise<ArchiveBenchResult> {
  if (!(bigBytes > 0))
    throw new Error(`ARCHIVE_BENCH_BYTES must be a number of bytes, not ${process.env.ARCHIVE_BENCH_BYTES}`);
  const pool = eventPool();
  const tmp = mkdtempSync(path.join(tmpdir(), "bench-archive-"));
  try {
    // Throughput: a log exported and imported whole each round, beside the baselines.
    const jsonl = path.join(tmp, "export.jsonl");
    const seg = path.join(tmp, "import.seg");
    const baseFile = path.join(tmp, "baseline.jsonl");
    const jobsFor = (logDir: string, events: number) => ({
      stringify: () => stringifyToFile(baseFile, events, pool),
      export: () => exportArchive(logDir, { output: jsonl }),
      parse: () => parseFile(jsonl),
      import: () => importArchive(jsonl, { output: seg }),
    });
    // Warm-up on a small log (the JIT settles), which also checks that the
    // baseline writes exactly what the export writes.
    const warm = writeLog(path.join(tmp, "warm-up"), 4 * MiB, pool);
    for (const job of Object.values(jobsFor(path.join(tmp, "warm-up"), warm.events))) await job();
    if (sizeOf(baseFile) !== sizeOf(jsonl))
      throw new Error(
        `the export baseline wrote ${sizeOf(baseFile)} bytes, the export ${sizeOf(jsonl)}: not the same events`,
      );
    rmSync(path.join(tmp, "warm-up"), { recursive: true });

    const logDir = path.join(tmp, "log");
    const log = writeLog(logDir, throughputBytes, pool);
    const jobs = jobsFor(logDir, log.events);
    const times = { stringify: [] as number[], export: [] as number[], parse: [] as number[], import: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      for (const [name, job] of Object.entries(jobs)) times[name as keyof typeof jobs].push(await seconds(job));
    }
    const cost = (job: number[], base: number[]) => median(job.map((t, r) => t / base[r]!));
    const jsonBytes = sizeOf(jsonl);
    const segBytes = sizeOf(seg);
    const timings: JobTiming[] = [
      {
        name: "baseline: JSON.stringify → file (fsync'ed)",
        seconds: median(times.stringify),
        events: log.events,
        outBytes: jsonBytes,
        cost: 1,
      },
      {
        name: "exportArchive: log → JSON Lines",
        seconds: median(times.export),
        events: log.events,
        inBytes: log.bytes,
        outBytes: jsonBytes,
        cost: cost(times.export, times.stringify),
      },
      {
        name: "baseline: read file → JSON.parse",
        seconds: median(times.parse),
        events: log.events,
        inBytes: jsonBytes,
        cost: 1,
      },
      {
        name: "importArchive: JSON Lines → segment",
        seconds: median(times.import),
        events: log.events,
        inBytes: jsonBytes,
        outBytes: segBytes,
        cost: cost(times.import, times.parse),
      },
    ];
    rmSync(logDir, { recursive: true });

    // Memory: one process per job; the big log exists only while it is exported.
    const memory: MemoryRow[] = measureMemory ? [{ name: "library loaded, idle", run: await inChild(["idle"]) }] : [];
    for (const bytes of measureMemory ? [mediumBytes, bigBytes] : []) {
      const dir = path.join(tmp, "memory-log");
      const out = path.join(tmp, "memory.jsonl");
      const written = writeLog(dir, bytes, pool);
      memory.push({
        name: `exportArchive, ${mib(written.bytes)} log`,
        inBytes: written.bytes,
        run: await inChild(["export", dir, out]),
      });
      rmSync(dir, { recursive: true });
      if (bytes === mediumBytes) {
        const size = sizeOf(out);
        memory.push({
          name: `importArchive, its ${mib(size)} of JSON Lines`,
          inBytes: size,
          run: await inChild(["import", out, path.join(tmp, "memory.seg")]),
        });
      }
      rmSync(out, { force: true });
      rmSync(path.join(tmp, "memory.seg"), { force: true });
    }
    return { log: { ...log, jsonBytes, distinct: pool.length }, rounds, timings, memory };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const mib = (bytes: number) =>
  bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / MiB).toFixed(0)} MiB`;
const mbps = (bytes: number | undefined, s: number) => (bytes === undefined ? "—" : `${(bytes / 1e6 / s).toFixed(1)}`);

export function archiveTables(r: ArchiveBenchResult): string {
  const { log } = r;
  const intro =
    `Log: ${mib(log.bytes)} in ${log.segments} segment${log.segments === 1 ? "" : "s"}, ${fmt(log.events)} events (sessions of 1 start, 8 VRP events, 1 end; ` +
    `${fmt(log.distinct)} distinct events, cycled); as JSON Lines: ${mib(log.jsonBytes)}. Medians of ${r.rounds} interleaved rounds.`;
  const throughput = [
    "| job | events/s | MB/s read | MB/s written | time | cost (÷ baseline, per round) |",
    "|---|---:|---:|---:|---:|---:|",
    ...r.timings.map(
      (t) =>
        `| ${t.name} | ${fmt(t.events / t.seconds)} | ${mbps(t.inBytes, t.seconds)} | ${mbps(t.outBytes, t.seconds)} | ${t.seconds.toFixed(2)} s | ${t.cost.toFixed(2)}× |`,
    ),
  ];
  const memory = [
    "| job (own process) | input | events | events/s | MB/s read | memory while running (median) | peak memory (VmHWM) |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...r.memory.map(({ name, inBytes, run }) =>
      run.events === 0
        ? `| ${name} | — | — | — | — | — | ${run.peakMiB.toFixed(0)} MiB |`
        : `| ${name} | ${mib(inBytes!)} | ${fmt(run.events)} | ${fmt(run.events / run.seconds)} | ${mbps(inBytes, run.seconds)} | ${run.typicalMiB.toFixed(0)} MiB | ${run.peakMiB.toFixed(0)} MiB |`,
    ),
  ];
  return `${intro}\n\n${throughput.join("\n")}\n\nPeak memory, each job in a process of its own:\n\n${memory.join("\n")}`;
}
