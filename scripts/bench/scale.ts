/**
 * Scale benchmark: a collector on a log of N sessions (a start and, for 9 in
 * 10, an end: about 2N records), made directly as segment files (as the
 * archive bench does). For each N, in processes of their own:
 *
 *   first start   this build, no state store yet: a full rebuild from the log
 *                 (and the closed segments scanned once and sealed: .idx files)
 *   restart       this build, the store checkpointed: the tail only (none),
 *                 the sealed segments not read
 *   baseline      the build SCALE_BASELINE_BIN names, on the same directory,
 *                 its restarts interleaved with this build's (a build before
 *                 the state store replays the whole log into memory; one
 *                 before sealed indexes reads every segment at open).
 *                 SCALE_BASELINE_LABEL names it in the table.
 *
 * Measured: seconds from spawn to the "listening" log line, resident memory
 * (VmRSS) once listening and after the queries, GetSession p99 (random
 * sessions, one call at a time) and ListSessions p99 (page of 50 from a random
 * position, filtered by component, by status=open, and by start time), from a
 * client in a process of its own (scale-query.ts; in the bench's process its
 * own GC pauses were part of the tail). SCALE_SESSIONS sets the sizes
 * (default "100000,1000000"), SCALE_RESTARTS how many restarts of each kind
 * give the medians (default 3): the row of the median start, each query
 * figure the median over the restarts.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { fmt, median, runForJson, spawnNode } from "./harness.js";
import { writeLog, type Queries } from "./scale-log.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.resolve(here, "../../src/cli/bin.js");
const queryClient = path.join(here, "scale-query.js");
/**
 * The query client's young generation, sized so that it does not collect
 * during the timed GetSession calls (2,000 from grpc-js, which allocates
 * about 50 KB a call, and 2,000 bare ones): with V8's default it paused
 * 11–15 times, 4–15 ms each, inside the timed calls; with 128 MB, 3 times,
 * 30–40 ms each. Its pauses are counted in the table all the same.
 */
const QUERY_CLIENT_HEAP = ["--min-semi-space-size=256", "--max-semi-space-size=256"];
const MiB = 2 ** 20;

interface Started {
  child: ChildProcess;
  port: number;
  seconds: number;
  log: string[];
}

function start(bin: string, dataDir: string): Promise<Started> {
  const began = performance.now();
  const child = spawnNode(
    ["--max-old-space-size=8192", bin, "serve", "--address", "127.0.0.1:0", "--data-dir", dataDir],
    ["ignore", "ignore", "pipe"],
  );
  const log: string[] = [];
  return new Promise((resolve, reject) => {
    let partial = "";
    child.stderr!.on("data", (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split("\n");
      partial = lines.pop()!;
      for (const line of lines) {
        log.push(line);
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        if (entry.msg === "listening")
          resolve({ child, port: entry.port!, seconds: (performance.now() - began) / 1000, log });
      }
    });
    child.on("exit", (code) => reject(new Error(`serve exited (${code}):\n${log.join("\n")}`)));
  });
}

async function stop(s: Started): Promise<void> {
  s.child.kill("SIGTERM");
  await new Promise((r) => s.child.once("exit", r));
}

const rssMiB = (pid: number, field = "VmRSS") =>
  Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

/** The queries, from a process of their own (scale-query.ts): the bench's heap and GC stay out of the timed calls. */
function query(port: number, sessions: number, records: number): Promise<Queries> {
  return runForJson("scale-query", [
    ...QUERY_CLIENT_HEAP,
    queryClient,
    String(port),
    String(sessions),
    String(records),
  ]);
}

export interface ScaleRow {
  sessions: number;
  records: number;
  logMiB: number;
  stateMiB: number;
  variant: string;
  startSeconds: number;
  replayed: string;
  rssListeningMiB: number;
  rssAfterMiB: number;
  /** After the queries: anonymous memory (heap, buffers) and file pages mapped (LMDB's, reclaimable). */
  anonAfterMiB: number;
  fileAfterMiB: number;
  /** From the "state store opened" line: recovering the log, and opening + catching up the state store. */
  logOpenMs: number | undefined;
  stateOpenMs: number | undefined;
  queries: Queries | undefined;
}

function dirMiB(dir: string): number {
  let bytes = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) bytes += statSync(path.join(e.parentPath, e.name)).size;
  return bytes / MiB;
}

async function measureStart(
  variant: string,
  bin: string,
  dataDir: string,
  sessions: number,
  records: number,
  logMiB: number,
  withQueries: boolean,
): Promise<ScaleRow> {
  const s = await start(bin, dataDir);
  const rssListeningMiB = rssMiB(s.child.pid!);
  const opened = s.log
    .map((l) => JSON.parse(l) as { msg?: string; replayed?: number; logOpenMs?: number; stateOpenMs?: number })
    .find((e) => e.msg === "state store opened");
  const queries = withQueries ? await query(s.port, sessions, records) : undefined;
  const rssAfterMiB = rssMiB(s.child.pid!);
  const anonAfterMiB = rssMiB(s.child.pid!, "RssAnon");
  const fileAfterMiB = rssMiB(s.child.pid!, "RssFile");
  await stop(s);
  const stateDir = path.join(dataDir, "state");
  let stateMiB = 0;
  try {
    stateMiB = dirMiB(stateDir);
  } catch {
    // the baseline has no state store
  }
  return {
    sessions,
    records,
    logMiB,
    stateMiB,
    variant,
    startSeconds: s.seconds,
    replayed: opened ? String(opened.replayed) : "all (in memory)",
    rssListeningMiB,
    rssAfterMiB,
    anonAfterMiB,
    fileAfterMiB,
    logOpenMs: opened?.logOpenMs,
    stateOpenMs: opened?.stateOpenMs,
    queries,
  };
}

/**
 * `times` restarts of each variant, interleaved (a shared machine's busy
 * spells fall on every variant alike). Per variant: the row of the median
 * time to listening, with each query figure the median over the restarts.
 */
async function interleavedRestarts(times: number, variants: (() => Promise<ScaleRow>)[]): Promise<ScaleRow[]> {
  const runs = variants.map(() => [] as ScaleRow[]);
  for (let i = 0; i < times; i++) for (const [v, run] of variants.entries()) runs[v]!.push(await run());
  return runs.map(medianRow);
}

function medianRow(rows: ScaleRow[]): ScaleRow {
  const row = [...rows].sort((a, b) => a.startSeconds - b.startSeconds)[Math.floor((rows.length - 1) / 2)]!;
  const all = rows.flatMap((r) => (r.queries ? [r.queries] : []));
  if (all.length === 0) return row;
  const keys = Object.keys(all[0]!) as (keyof Queries)[];
  const queries = Object.fromEntries(keys.map((k) => [k, median(all.map((q) => q[k]))]));
  return { ...row, queries: queries as unknown as Queries };
}

export async function benchScale(): Promise<ScaleRow[]> {
  const sizes = (process.env.SCALE_SESSIONS ?? "100000,1000000").split(",").map(Number);
  const baseline = process.env.SCALE_BASELINE_BIN;
  const restarts = Number(process.env.SCALE_RESTARTS ?? 3);
  const rows: ScaleRow[] = [];
  for (const sessions of sizes) {
    const dataDir = mkdtempSync(path.join(tmpdir(), "bench-scale-"));
    try {
      const { records, bytes } = writeLog(dataDir, sessions);
      const logMiB = bytes / MiB;
      rows.push(
        await measureStart(
          "first start (state store rebuilt from the log, segments sealed)",
          cli,
          dataDir,
          sessions,
          records,
          logMiB,
          false,
        ),
      );
      const label = `${process.env.SCALE_BASELINE_LABEL ?? "baseline (SCALE_BASELINE_BIN)"}; median of ${restarts}`;
      const variants = [
        () =>
          measureStart(
            `restart (state store checkpointed, segments sealed; median of ${restarts})`,
            cli,
            dataDir,
            sessions,
            records,
            logMiB,
            true,
          ),
      ];
      // On the same directory, interleaved with this build's restarts: a baseline with the state store restarts from its checkpoint too.
      if (baseline) variants.push(() => measureStart(label, baseline, dataDir, sessions, records, logMiB, true));
      rows.push(...(await interleavedRestarts(restarts, variants)));
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  return rows;
}

export function scaleTable(rows: ScaleRow[]): string {
  const lines = [
    "| sessions | log records | log MiB | state MiB | start | listening after | of which: log recovery, state store | records replayed | RSS listening | RSS after queries (anon + file) | GetSession p50 / p99 | GetSession p50 / p99, bare HTTP/2 client | query client GC during GetSession | List by component p99 | List open p99 | List by start time p99 |",
    "|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  const ms = (v: number | undefined) => (v === undefined ? "–" : `${v.toFixed(v < 10 ? 2 : 1)} ms`);
  const s = (v: number | undefined) => (v === undefined ? "–" : `${(v / 1000).toFixed(2)} s`);
  for (const r of rows) {
    const q = r.queries;
    lines.push(
      `| ${r.sessions.toLocaleString("en-US")} | ${r.records.toLocaleString("en-US")} | ${fmt(r.logMiB)} | ${r.stateMiB ? fmt(r.stateMiB) : "–"} | ${r.variant} | ${r.startSeconds.toFixed(2)} s | ${r.logOpenMs === undefined ? "–" : `${s(r.logOpenMs)}, ${s(r.stateOpenMs)}`} | ${r.replayed} | ${fmt(r.rssListeningMiB)} MiB | ${fmt(r.rssAfterMiB)} MiB (${fmt(r.anonAfterMiB)} + ${fmt(r.fileAfterMiB)}) | ${q ? `${ms(q.getP50)} / ${ms(q.getP99)}` : "–"} | ${q ? `${ms(q.bareGetP50)} / ${ms(q.bareGetP99)}` : "–"} | ${q ? `${q.getClientGcs} pauses, ${ms(q.getClientGcMs)}` : "–"} | ${ms(q?.listComponentP99)} | ${ms(q?.listOpenP99)} | ${ms(q?.listTimeP99)} |`,
    );
  }
  return lines.join("\n");
}
