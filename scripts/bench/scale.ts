/**
 * Scale benchmark: a collector on a log of N sessions (a start and, for 9 in
 * 10, an end: about 2N records), made directly as segment files (as the
 * archive bench does). For each N, in processes of their own:
 *
 *   first start   this build, no state store yet: a full rebuild from the log
 *                 (and the closed segments scanned once and sealed: .idx files)
 *   restart       this build, the store checkpointed: the tail only (none),
 *                 the sealed segments not read
 *   baseline      the build SCALE_BASELINE_BIN names, started last on the same
 *                 directory (a build before the state store replays the whole
 *                 log into memory; one before sealed indexes reads every
 *                 segment at open). SCALE_BASELINE_LABEL names it in the table.
 *
 * Measured: seconds from spawn to the "listening" log line, resident memory
 * (VmRSS) once listening and after the queries, GetSession p99 (random
 * sessions, one call at a time) and ListSessions p99 (page of 50 from a random
 * position, filtered by component, by status=open, and by start time), from a
 * client in the bench's process. SCALE_SESSIONS sets the sizes
 * (default "100000,1000000"), SCALE_RESTARTS how many restarts of each kind
 * give the median (default 3).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { crc32 } from "node:zlib";
import { credentials } from "@grpc/grpc-js";
import { bridges } from "../../src/bridge/index.js";
import { parseTimestamp } from "../../src/contract/timestamp.js";
import { encodeFrame, encodeSegmentHeader, HEADER_BYTES } from "../../src/store/frame.js";
import { LogEntry } from "../../gen/sessionevents/log/v1/log_entry.js";
import {
  GetSessionRequest,
  ListSessionsRequest,
  SessionServiceClient,
  SessionStatus,
} from "../../gen/oneiric/session/v1/session_service.js";
import { validEnd, validStart } from "../../test/support/fixtures.js";
import { fmt, median } from "./harness.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.resolve(here, "../../src/cli/bin.js");
const MiB = 2 ** 20;
const SEGMENT_BYTES = 64 * MiB;
const COMPONENTS = 20;

const sessionId = (i: number) => `sess_${i.toString(16).padStart(32, "0")}`;
const T0 = Date.UTC(2025, 0, 1);
/** Session i starts i × 30 s after T0: a million sessions cover about a year. */
const startMs = (i: number) => T0 + i * 30_000;

/** The records of session i: its start, and its end unless it stays open (1 in 10). */
function sessionRecords(
  i: number,
  template: { start: ReturnType<typeof validStart>; end: ReturnType<typeof validEnd> },
): Uint8Array[] {
  const t = startMs(i);
  const start = bridges.SessionStartEvent.fromJson({
    ...template.start,
    event_id: `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`,
    component_name: `component-${i % COMPONENTS}`,
    timestamp: new Date(t).toISOString(),
    pid: 1000 + (i % 30_000),
  });
  const records = [
    LogEntry.encode({
      receivedAt: parseTimestamp(new Date(t + 3).toISOString()),
      entry: { $case: "sessionStarted", value: { sessionId: sessionId(i), event: start } },
    }).finish(),
  ];
  if (i % 10 !== 9) {
    const end = bridges.SessionEndEvent.fromJson({
      ...template.end,
      session_id: sessionId(i),
      timestamp: new Date(t + 600_000).toISOString(),
    });
    records.push(
      LogEntry.encode({
        receivedAt: parseTimestamp(new Date(t + 600_003).toISOString()),
        entry: { $case: "sessionEnded", value: { sessionId: sessionId(i), event: end } },
      }).finish(),
    );
  }
  return records;
}

/** A data directory holding `sessions` sessions, in segments like the collector's. Ends are written right after their start. */
function writeLog(dir: string, sessions: number): { bytes: number; records: number } {
  const template = { start: validStart(), end: validEnd() };
  const chunk = 8 * MiB;
  const buf = Buffer.allocUnsafe(chunk + 64 * 1024);
  let sequence = 0;
  let total = 0;
  let fd = -1;
  let segment = 0;
  let used = 0;
  const flush = () => {
    writeSync(fd, buf, 0, used);
    segment += used;
    total += used;
    used = 0;
  };
  const roll = () => {
    if (fd >= 0) {
      flush();
      closeSync(fd);
    }
    fd = openSync(path.join(dir, `${String(sequence + 1).padStart(20, "0")}.seg`), "w");
    const header = encodeSegmentHeader(BigInt(sequence + 1));
    writeSync(fd, header);
    segment = header.length;
    total += header.length;
  };
  roll();
  for (let i = 0; i < sessions; i++) {
    for (const payload of sessionRecords(i, template)) {
      sequence++;
      buf.writeUInt32LE(payload.length, used);
      buf.writeUInt32LE(0, used + 4); // flags: not continued
      buf.writeBigUInt64LE(BigInt(sequence), used + 8);
      buf.writeUInt32LE(crc32(payload), used + 16);
      buf.writeUInt32LE(crc32(buf.subarray(used, used + 20)), used + 20);
      buf.set(payload, used + HEADER_BYTES);
      if (sequence === 1 && !buf.subarray(0, HEADER_BYTES + payload.length).equals(encodeFrame(1n, payload)))
        throw new Error("frame layout differs from encodeFrame");
      used += HEADER_BYTES + payload.length;
      if (used >= chunk) flush();
    }
    if (segment + used >= SEGMENT_BYTES) roll();
  }
  flush();
  closeSync(fd);
  return { bytes: total, records: sequence };
}

interface Started {
  child: ChildProcess;
  port: number;
  seconds: number;
  log: string[];
}

function start(bin: string, dataDir: string): Promise<Started> {
  const began = performance.now();
  const child = spawn(
    process.execPath,
    ["--max-old-space-size=8192", bin, "serve", "--address", "127.0.0.1:0", "--data-dir", dataDir],
    { stdio: ["ignore", "ignore", "pipe"] },
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

function p99(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))]!;
}

/** A page token as the collector issues them ("after this log position"). */
const tokenAfter = (sequence: number) => Buffer.from(`v1:${sequence}`).toString("base64url");

async function timed(calls: number, fn: (i: number) => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t = performance.now();
    await fn(i);
    out.push(performance.now() - t);
  }
  return out;
}

interface Queries {
  getP50: number;
  getP99: number;
  listComponentP99: number;
  listOpenP99: number;
  listTimeP99: number;
  listedMedian: number;
}

async function query(port: number, sessions: number, records: number): Promise<Queries> {
  const client = new SessionServiceClient(`127.0.0.1:${port}`, credentials.createInsecure(), {
    "grpc.max_receive_message_length": 64 * MiB,
  });
  const unary = <Req, Res>(method: "getSession" | "listSessions", req: Req) =>
    new Promise<Res>((resolve, reject) =>
      (client[method] as unknown as (r: Req, cb: (e: Error | null, r: Res) => void) => void)(req, (e, r) =>
        e ? reject(e) : resolve(r),
      ),
    );
  let seed = 12345;
  const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  await timed(200, () =>
    unary("getSession", GetSessionRequest.fromPartial({ sessionId: sessionId(random(sessions)) })),
  ); // warm-up
  const getMs = await timed(2000, async () => {
    await unary("getSession", GetSessionRequest.fromPartial({ sessionId: sessionId(random(sessions)) }));
  });
  const listed: number[] = [];
  const list = (filter: () => Partial<ListSessionsRequest>) =>
    timed(300, async () => {
      const r = await unary<ListSessionsRequest, { sessions: unknown[] }>(
        "listSessions",
        ListSessionsRequest.fromPartial({ pageSize: 50, pageToken: tokenAfter(random(records)), ...filter() }),
      );
      listed.push(r.sessions.length);
    });
  const listComponentMs = await list(() => ({ componentName: `component-${random(COMPONENTS)}` }));
  const listOpenMs = await list(() => ({ status: SessionStatus.SESSION_STATUS_OPEN }));
  // Sessions started within one day, from a random position (no index: the scan budget bounds the page).
  const listTimeMs = await list(() => {
    const day = startMs(random(sessions));
    return {
      startedAfter: parseTimestamp(new Date(day).toISOString()),
      startedBefore: parseTimestamp(new Date(day + 86_400_000).toISOString()),
    };
  });
  client.close();
  return {
    getP50: median(getMs),
    getP99: p99(getMs),
    listComponentP99: p99(listComponentMs),
    listOpenP99: p99(listOpenMs),
    listTimeP99: p99(listTimeMs),
    listedMedian: median(listed),
  };
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

/** Start `times` times; the row of the median time to listening (one start is at the mercy of a shared machine). */
async function medianStart(times: number, start: () => Promise<ScaleRow>): Promise<ScaleRow> {
  const rows: ScaleRow[] = [];
  for (let i = 0; i < times; i++) rows.push(await start());
  return rows.sort((a, b) => a.startSeconds - b.startSeconds)[Math.floor((rows.length - 1) / 2)]!;
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
      rows.push(
        await medianStart(restarts, () =>
          measureStart(
            `restart (state store checkpointed, segments sealed; median of ${restarts})`,
            cli,
            dataDir,
            sessions,
            records,
            logMiB,
            true,
          ),
        ),
      );
      // Last, on the same directory: a baseline with the state store restarts from its checkpoint too.
      const label = `${process.env.SCALE_BASELINE_LABEL ?? "baseline (SCALE_BASELINE_BIN)"}; median of ${restarts}`;
      if (baseline)
        rows.push(
          await medianStart(restarts, () => measureStart(label, baseline, dataDir, sessions, records, logMiB, true)),
        );
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  return rows;
}

export function scaleTable(rows: ScaleRow[]): string {
  const lines = [
    "| sessions | log records | log MiB | state MiB | start | listening after | of which: log recovery, state store | records replayed | RSS listening | RSS after queries (anon + file) | GetSession p50 / p99 | List by component p99 | List open p99 | List by start time p99 |",
    "|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  const ms = (v: number | undefined) => (v === undefined ? "–" : `${v.toFixed(v < 10 ? 2 : 1)} ms`);
  const s = (v: number | undefined) => (v === undefined ? "–" : `${(v / 1000).toFixed(2)} s`);
  for (const r of rows) {
    const q = r.queries;
    lines.push(
      `| ${r.sessions.toLocaleString("en-US")} | ${r.records.toLocaleString("en-US")} | ${fmt(r.logMiB)} | ${r.stateMiB ? fmt(r.stateMiB) : "–"} | ${r.variant} | ${r.startSeconds.toFixed(2)} s | ${r.logOpenMs === undefined ? "–" : `${s(r.logOpenMs)}, ${s(r.stateOpenMs)}`} | ${r.replayed} | ${fmt(r.rssListeningMiB)} MiB | ${fmt(r.rssAfterMiB)} MiB (${fmt(r.anonAfterMiB)} + ${fmt(r.fileAfterMiB)}) | ${q ? `${ms(q.getP50)} / ${ms(q.getP99)}` : "–"} | ${ms(q?.listComponentP99)} | ${ms(q?.listOpenP99)} | ${ms(q?.listTimeP99)} |`,
    );
  }
  return lines.join("\n");
}
