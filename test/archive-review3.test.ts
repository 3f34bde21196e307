/**
 * Regressions from a third fresh-eyes review, of gunzip.ts, sink.ts and the
 * sniffer in source.ts: each test is a problem it found, fixed since. Every
 * await that could hang is raced against a generous timer (a liveness
 * guard, not a speed test), so a hang fails the test instead of silently
 * ending the run (an empty event loop ends uvu).
 */
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { Writable, PassThrough } from "node:stream";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { verifyArchive } from "../src/archive/index.js";
import { SEGMENT_HEADER_BYTES, SEGMENT_MAGIC } from "../src/store/frame.js";
import { openSink } from "../src/archive/sink.js";
import { logEntryBytes, sampleEvents, sampleJsonLines, writeSegmentFile } from "./support/archive-log.js";
import { validVrp } from "./support/fixtures.js";
import { tempDir } from "./support/repo.js";

const HANG = "hang" as const;
async function settles<T>(p: Promise<T>, ms = 20_000): Promise<T | typeof HANG> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<typeof HANG>((resolve) => (timer = setTimeout(() => resolve(HANG), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** A LogEntry payload of exactly `size` bytes (a VRP event with a long detail). */
function payloadOfSize(size: number): Uint8Array {
  const make = (k: number, p: number) =>
    logEntryBytes({ kind: "vrp_received", json: { ...validVrp(), details: { path: "x".repeat(k) } }, producerId: "p".repeat(p), producerSequence: 1n, receivedAt: "2026-02-06T12:00:00Z" });
  const base = make(0, 1).length;
  for (let k = Math.max(0, size - base - 200); k <= size - base; k++) for (let p = 1; p < 20; p++) if (make(k, p).length === size) return make(k, p);
  throw new Error(`no payload of ${size} bytes`);
}

// ---------------------------------------------------------------- gunzip.ts

test("gzip: corrupt deflate data is reported as damage; the read does not hang (zlib never calls back a write that errors)", async () => {
  const dir = tempDir();
  const file = path.join(dir, "corrupt.jsonl.gz");
  const gz = gzipSync(await sampleJsonLines(dir, 200));
  for (let i = gz.length >> 1; i < (gz.length >> 1) + 10; i++) gz[i]! ^= 0xa5;
  writeFileSync(file, gz);
  // `archive verify corrupt.jsonl.gz` prints nothing and exits 13 (unsettled top-level await);
  // `archive export corrupt.jsonl.gz -o out.jsonl` also leaves .out.jsonl.partial-PID behind.
  const s = await settles(verifyArchive(file));
  if (s === HANG) assert.unreachable("verifyArchive never settled");
  else assert.ok(s.damaged >= 1);
});

// A segment now starts with its magic number, never gzip's; its first frame
// (whose length field is 1f 8b 00 00 here) must still not be taken for gzip.
test("gzip detection: a segment whose first payload is 35615 bytes (starts 1f 8b) is read, not refused as 'not gzip'", async () => {
  const dir = tempDir();
  const file = path.join(dir, "first.seg");
  writeSegmentFile(file, [payloadOfSize(0x8b1f), ...sampleEvents(10).map(logEntryBytes)]);
  const bytes = readFileSync(file);
  assert.ok(bytes.subarray(0, SEGMENT_MAGIC.length).equals(SEGMENT_MAGIC));
  assert.equal([...bytes.subarray(SEGMENT_HEADER_BYTES, SEGMENT_HEADER_BYTES + 2)], [0x1f, 0x8b]);
  const s = await verifyArchive(file, { format: "segment" });
  assert.is(s.events, 11, `events ${s.events}, damaged ${s.damaged}: the whole file was taken for a broken gzip`);
  const unnamed = path.join(dir, "first.bin"); // sniffed, as standard input is
  copyFileSync(file, unnamed);
  const sniffed = await verifyArchive(unnamed);
  assert.equal([sniffed.events, sniffed.damaged], [11, 0]);
});

// ---------------------------------------------------------------- sniffer

test("sniff: one stray control byte in a JSON Lines file does not turn the whole file into delimited protobuf", async () => {
  const dir = tempDir();
  const file = path.join(dir, "events.log"); // no .jsonl name: sniffed (as stdin is)
  const lines = (await sampleJsonLines(dir, 200)).split("\n");
  lines[3] = `${lines[3]!.slice(0, 50)}\u001b${lines[3]!.slice(51)}`;
  writeFileSync(file, lines.join("\n"));
  const s = await verifyArchive(file);
  assert.ok(s.events >= 199, `events ${s.events}, damaged ${s.damaged}: read as length-delimited protobuf`);
});

test("sniff: a segment whose first record is larger than 4 MiB (allowed up to 64 MiB) is sniffed as a segment", async () => {
  const dir = tempDir();
  const file = path.join(dir, "big-first.bin");
  const big = logEntryBytes({ kind: "vrp_received", json: { ...validVrp(), details: { path: "x".repeat(5 << 20) } }, producerId: "p", producerSequence: 1n, receivedAt: "2026-02-06T12:00:00Z" });
  writeSegmentFile(file, [big, ...sampleEvents(10).map(logEntryBytes)]);
  const s = await verifyArchive(file, { onDamage: () => {} });
  assert.is(s.events, 11, `events ${s.events}, damaged ${s.damaged}: read as delimited`);
});

// ---------------------------------------------------------------- sink.ts

test("sink: a given stream closed without an error (an HTTP response whose client left) fails the write, never stalls it", async () => {
  const stream = new Writable({ highWaterMark: 10, write() {} }); // never drains
  const sink = openSink(stream, { batchBytes: 0 });
  const written = sink.write("x".repeat(100)).then(
    () => "resolved",
    () => "rejected",
  );
  setTimeout(() => stream.destroy(), 50);
  assert.ok((await settles(written)) !== HANG, "the write waits for a 'drain' that never comes");
});

test("sink: finished sinks leave no listeners on a given stream", async () => {
  const stream = new PassThrough();
  stream.resume();
  const before = stream.listenerCount("error");
  for (let i = 0; i < 3; i++) {
    const sink = openSink(stream, { gzip: i % 2 === 0 });
    await sink.write("hello\n");
    await sink.finish();
  }
  assert.is(stream.listenerCount("error"), before, "an 'error' listener (holding the sink) is added per sink and never removed");
});

test.run();
