/**
 * Regressions from a fresh-eyes review of the archive change: each test is a
 * problem the review found (hangs on a failing output, a closed pipe, memory
 * under many damaged records, sniffing, gzip, double counting, a leaked
 * descriptor), fixed since.
 */
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { exportArchive, importArchive, readArchive, verifyArchive, type ArchiveDamage } from "../src/archive/index.js";
import { openSink } from "../src/archive/sink.js";
import { encodeFrame, encodeSegmentHeader, HEADER_BYTES, SEGMENT_HEADER_BYTES } from "../src/store/frame.js";
import { LogCorruptionError, SegmentLog } from "../src/store/segment-log.js";
import { logEntryBytes, sampleEvents, writeDataDir, writeSegmentFile } from "./support/archive-log.js";
import { cliBin, tempDir } from "./support/repo.js";

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Run the CLI; `closeStdoutAfterFirstChunk` behaves like `| head -c N`. */
function cli(args: string[], options: { nodeArgs?: string[]; closeStdoutAfterFirstChunk?: boolean; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), cliBin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, options.timeoutMs ?? 30_000);
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
      if (options.closeStdoutAfterFirstChunk) child.stdout.destroy();
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** Settles with the promise's outcome, or "pending" after `ms` (a job that hangs forever). */
async function within<T>(promise: Promise<T>, ms: number): Promise<{ value?: T; error?: unknown; pending?: true }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ pending: true }>((resolve) => (timer = setTimeout(() => resolve({ pending: true }), ms)));
  try {
    return await Promise.race([promise.then((value) => ({ value }), (error: unknown) => ({ error })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Varied events (distinct ids and times), so that gzip output is not tiny. A segment: its header, then frames. */
function bigSegment(file: string, events: number): void {
  const fd = openSync(file, "w");
  writeSync(fd, encodeSegmentHeader(1n));
  sampleEvents(events).forEach((e, i) => writeSync(fd, encodeFrame(BigInt(i + 1), logEntryBytes(e))));
  closeSync(fd);
}

const partials = (dir: string) => readdirSync(dir).filter((n) => n.includes(".partial-"));

// ---------------------------------------------------------------- sink.ts: errors of the output

test("sink: an output that cannot be written is an error, not a job that never settles (and no partial file is left)", async () => {
  const dir = tempDir();
  const input = path.join(dir, "log.seg");
  writeSegmentFile(input, sampleEvents(4).map(logEntryBytes));
  // -o names an existing directory: the final rename fails, abort() then waits for a 'close' that already happened.
  const outDir = path.join(dir, "out");
  mkdirSync(path.join(outDir, "x"), { recursive: true });
  const r = await within(exportArchive(input, { output: outDir }), 5000);
  assert.ok(!r.pending, "exportArchive never settles when -o is a directory");
  assert.ok(r.error, "and it must fail");
  assert.equal(partials(dir), [], "no .partial- file left behind");
  // A missing parent directory: the open fails, same hang.
  const r2 = await within(exportArchive(input, { output: path.join(dir, "missing", "out.jsonl") }), 5000);
  assert.ok(!r2.pending, "exportArchive never settles when the output's directory is missing");
});

test("sink: an error about the file being written names the user's file, not the partial one beside it", async () => {
  const dir = tempDir();
  const outDir = path.join(dir, "gone");
  mkdirSync(outDir);
  const target = path.join(outDir, "out.jsonl");
  const sink = openSink(target);
  rmSync(outDir, { recursive: true }); // before the partial file is opened: its open fails
  const error = await sink
    .write("{}\n")
    .then(() => sink.finish())
    .then(
      () => undefined,
      (e: Error) => e,
    );
  assert.ok(error, "the write must fail");
  assert.ok(error!.message.includes(target), error!.message);
  assert.not.ok(error!.message.includes(".partial-"), error!.message);
});

test("CLI: -o an unwritable path prints an error and exits 1 (today: silent exit 13, partial file left)", async () => {
  const dir = tempDir();
  const input = path.join(dir, "log.seg");
  writeSegmentFile(input, sampleEvents(4).map(logEntryBytes));
  mkdirSync(path.join(dir, "out", "x"), { recursive: true });
  const r = await cli(["archive", "export", input, "-o", path.join(dir, "out")]);
  assert.is(r.code, 1, `exit ${r.code}, stderr ${JSON.stringify(r.stderr)}`);
  assert.match(r.stderr, "error");
  assert.equal(partials(dir), []);
});

test("CLI: export --gzip into a pipe closed early (| head -c) does not end in a silent exit 13", async () => {
  const dir = tempDir();
  const input = path.join(dir, "big.seg");
  bigSegment(input, 20_000);
  const r = await cli(["archive", "export", input, "--gzip"], { closeStdoutAfterFirstChunk: true });
  assert.not.ok(r.timedOut, "hung");
  assert.is.not(r.code, 13, "exit 13 is Node's 'unsettled top-level await': the job waited for a drain that never came");
});

test("CLI: verify into a pipe closed early (| head -1) is not an unhandled 'error' event with a stack trace", async () => {
  const dir = tempDir();
  const input = path.join(dir, "zeros.bin");
  writeFileSync(input, Buffer.alloc(200_000)); // as delimited: 200,000 empty records, each damage printed to stdout
  const r = await cli(["archive", "verify", input, "--format", "delimited"], { closeStdoutAfterFirstChunk: true });
  assert.not.match(r.stderr, "Unhandled 'error' event");
  assert.not.match(r.stderr, "    at ");
});

test("CLI: verify's damage lines on stdout honour backpressure (constant memory with many damaged records)", async () => {
  const dir = tempDir();
  const input = path.join(dir, "zeros.bin");
  writeFileSync(input, Buffer.alloc(150_000)); // 150 KB of input -> ~22 MB of damage lines, more than the heap
  const r = await cli(["archive", "verify", input, "--format", "delimited"], { nodeArgs: ["--max-old-space-size=16"], timeoutMs: 120_000 });
  assert.not.match(r.stderr, "heap out of memory");
  assert.is(r.code, 1, `exit ${r.code}`);
  assert.is(r.stdout.split("\n").filter((l) => /^damaged: .* record \d+/.test(l)).length, 150_000);
});

// ---------------------------------------------------------------- damage counts and classification

test("a single flipped payload byte in a data directory costs one damaged record, not two (checksum + 'records N are missing')", async () => {
  const dir = tempDir();
  const data = path.join(dir, "data");
  await writeDataDir(data, sampleEvents(40), 1024);
  const seg = readdirSync(data).filter((n) => n.endsWith(".seg")).sort()[1]!;
  const file = path.join(data, seg);
  const bytes = readFileSync(file);
  bytes[SEGMENT_HEADER_BYTES + HEADER_BYTES + 5] ^= 0xff; // the first record's payload (after the segment and frame headers)
  writeFileSync(file, bytes);
  const s = await verifyArchive(data);
  assert.is(s.events, 39);
  assert.is(s.damaged, 1, s.damage.map((d) => d.message).join(" | "));
});

test("verify of a data directory that the collector itself refuses as corrupt is not reported clean", async () => {
  const dir = tempDir();
  const data = path.join(dir, "data");
  await writeDataDir(data, sampleEvents(40), 1024);
  const last = path.join(data, readdirSync(data).filter((n) => n.endsWith(".seg")).sort().at(-1)!);
  const bytes = Buffer.from(readFileSync(last));
  bytes[bytes.length - 5] ^= 0xff; // the last acknowledged record: checksum now fails
  const garbage = Buffer.alloc(300, 0x5a); // non-zero bytes after it: not what a crash mid-write leaves
  writeFileSync(last, Buffer.concat([bytes, garbage]));
  let refused = false;
  try {
    await (await SegmentLog.open({ dir: data, readOnly: true })).close();
  } catch (e) {
    refused = e instanceof LogCorruptionError;
  }
  assert.ok(refused, "precondition: SegmentLog recovery refuses this directory");
  const s = await verifyArchive(data);
  assert.ok(s.damaged > 0, `verify says damaged: 0 (unfinishedTail ${JSON.stringify(s.unfinishedTail)})`);
});

// ---------------------------------------------------------------- format sniffing

test("sniffing: a segment whose first frame length is 123 mod 256 (first byte '{') is not read as JSON Lines", async () => {
  const dir = tempDir();
  const base = sampleEvents(2)[0]!;
  let payload: Uint8Array | undefined;
  for (let n = 0; n < 600 && !(payload && payload.length % 256 === 123); n++) {
    payload = logEntryBytes({ ...base, json: { ...base.json, metadata: { pad: "x".repeat(n) } } } as typeof base);
  }
  assert.is(payload!.length % 256, 123);
  const file = path.join(dir, "log.bin"); // no .seg name (as with stdin)
  writeSegmentFile(file, [payload!, logEntryBytes(sampleEvents(2)[1]!)]);
  const s = await verifyArchive(file);
  assert.is(s.events, 2, `${s.damaged} damaged: ${s.damage[0]?.message}`);
});

test("sniffing: a segment (no .seg name / stdin) whose first record is damaged is still read as a segment", async () => {
  const dir = tempDir();
  const file = path.join(dir, "log.bin");
  writeSegmentFile(file, sampleEvents(5).map(logEntryBytes));
  const bytes = readFileSync(file);
  bytes[SEGMENT_HEADER_BYTES + HEADER_BYTES + 14] ^= 0xff; // a payload byte of record 1 (the segment header, with its magic number, is intact)
  writeFileSync(file, bytes);
  const s = await verifyArchive(file);
  assert.is(s.events, 4, `read as delimited: ${s.damaged} bogus damage, 0 events`);
  assert.is(s.damaged, 1);
});

// ---------------------------------------------------------------- gzip input

test("gzip: a bad CRC trailer keeps the events decoded before it, and names where", async () => {
  const dir = tempDir();
  const jsonl = path.join(dir, "a.jsonl");
  await exportArchive((() => {
    const seg = path.join(dir, "a.seg");
    writeSegmentFile(seg, sampleEvents(3).map(logEntryBytes));
    return seg;
  })(), { output: jsonl });
  const gz = gzipSync(readFileSync(jsonl));
  gz[gz.length - 6] ^= 0xff; // CRC-32 trailer
  const file = path.join(dir, "a.jsonl.gz");
  writeFileSync(file, gz);
  const s = await verifyArchive(file);
  assert.is(s.damaged, 1);
  assert.is(s.events, 3, `all ${3 - s.events} events before the trailer were dropped; damage at ${JSON.stringify(s.damage[0]?.position)}`);
});

// Joining each 16 KiB gunzip chunk onto the line so far made this quadratic
// (a 32 MiB line took 35 s); now chunks are joined once per doubling. Speed is
// the bench's business: here, the long line is read whole and judged.
test("ByteWindow: a long line in gzip'd JSON Lines (16 KiB gunzip chunks) is read whole, then the next line", async () => {
  const dir = tempDir();
  const file = path.join(dir, "long.jsonl.gz");
  const good = JSON.stringify({ ts_ms: 1, event_type: "X", session_id: "s" });
  writeFileSync(file, gzipSync(Buffer.concat([Buffer.alloc(8 * 1024 * 1024, 0x61), Buffer.from(`\n${good}\n`)])));
  const s = await verifyArchive(file);
  assert.equal([s.damaged, s.events, s.damage[0]?.rule, s.damage[0]?.bytes], [1, 1, "json", 8 * 1024 * 1024]);
});

// ---------------------------------------------------------------- library API

test("readArchive: breaking out of the loop closes the input file (no descriptor leak)", async () => {
  const dir = tempDir();
  const file = path.join(dir, "log.seg");
  writeSegmentFile(file, sampleEvents(8).map(logEntryBytes));
  const fds = () => readdirSync("/proc/self/fd").length;
  const before = fds();
  for (let i = 0; i < 50; i++) {
    for await (const _ of readArchive(file)) break;
  }
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(fds() - before < 5, `${fds() - before} descriptors leaked by 50 early breaks`);
});

test("import: damage skipped leaves no partial file beside the output", async () => {
  const dir = tempDir();
  const input = path.join(dir, "in.jsonl");
  writeFileSync(input, "{}\n");
  const damage: ArchiveDamage[] = [];
  await importArchive(input, { output: path.join(dir, "out.seg"), onDamage: (d) => damage.push(d) });
  assert.is(damage.length, 1);
  assert.equal(partials(dir), []);
});

test.run();
