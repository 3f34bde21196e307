/**
 * Regressions from a second fresh-eyes review of the archive change: each
 * test is a problem it found (gzip members and what follows them, sniffing,
 * -o a FIFO, a failing stream output, a reader iterated twice, a leaked
 * descriptor), fixed since.
 */
import { spawn, spawnSync } from "node:child_process";
import { createWriteStream, lstatSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { test } from "uvu";
import { until } from "./support/until.js";
import * as assert from "uvu/assert";
import { exportArchive, readArchive, verifyArchive } from "../src/archive/index.js";
import { logEntryBytes, sampleEvents, sampleJsonLines, writeDataDir, writeSegmentFile, type LoggedEvent } from "./support/archive-log.js";
import { validEnd } from "./support/fixtures.js";
import { tempDir } from "./support/repo.js";

// ---------------------------------------------------------------- gzip input: members and what follows them

test("gzip: a complete member followed by bytes that are not gzip keeps the member's events", async () => {
  const dir = tempDir();
  const file = path.join(dir, "trailing.jsonl.gz");
  const text = await sampleJsonLines(dir, 20);
  // e.g. `cat a.jsonl.gz b.jsonl > c.jsonl.gz`, or a later member whose magic byte was flipped
  writeFileSync(file, Buffer.concat([gzipSync(text), Buffer.from(text)]));
  const s = await verifyArchive(file);
  assert.is(s.events, 20, `events ${s.events}: good events decoded before the gzip error were dropped`);
  assert.ok(s.damaged >= 1, "the bytes after the member are damage");
});

test("gzip: a later member with a flipped magic byte loses no event of the member before it", async () => {
  const dir = tempDir();
  const file = path.join(dir, "flip.jsonl.gz");
  const text = await sampleJsonLines(dir, 200);
  const second = gzipSync(text);
  second[0] = 0x1e;
  writeFileSync(file, Buffer.concat([gzipSync(text), second]));
  const s = await verifyArchive(file);
  assert.is(s.events, 200, `events ${s.events} of the 200 in the intact first member`);
});

test("gzip: a NUL byte after a member hides everything after it, and verify calls the file clean", async () => {
  const dir = tempDir();
  const file = path.join(dir, "padded.jsonl.gz");
  const text = await sampleJsonLines(dir, 20);
  writeFileSync(file, Buffer.concat([gzipSync(text), Buffer.alloc(100), gzipSync(text)]));
  const s = await verifyArchive(file);
  assert.ok(s.events === 40 || s.damaged > 0, `events ${s.events}, damaged ${s.damaged}: the second member was dropped silently`);
});

// ---------------------------------------------------------------- sniffing

test("sniff: a length-delimited file whose first record is 123 bytes long (0x7b is '{') is not JSON Lines", async () => {
  const dir = tempDir();
  let entry: Uint8Array | undefined;
  for (let pad = 0; pad < 200 && !entry; pad++) {
    const e: LoggedEvent = { kind: "session_ended", json: { ...validEnd(), metadata: { exit_reason: "x".repeat(pad) } } };
    const bytes = logEntryBytes(e);
    if (bytes.length === 123) entry = bytes;
  }
  assert.ok(entry, "a 123-byte LogEntry");
  const file = path.join(dir, "records.bin");
  writeFileSync(file, Buffer.concat([Buffer.from([123]), entry!]));
  const s = await verifyArchive(file);
  assert.is(s.damaged, 0, JSON.stringify(s.damage.map((d) => d.message)));
  assert.is(s.events, 1);
});

test("sniff: JSON Lines whose first line is cut (tail -c, a comment) is still JSON Lines, not one big damaged delimited record", async () => {
  const dir = tempDir();
  const text = await sampleJsonLines(dir, 12);
  const file = path.join(dir, "tail-of-log"); // no extension, as on stdin
  writeFileSync(file, text.slice(text.indexOf("\n") - 30)); // starts mid-line
  const s = await verifyArchive(file);
  assert.is(s.events, 11, `events ${s.events}, damaged ${s.damaged}`);
});

// ---------------------------------------------------------------- sink: what -o names

test("sink: -o naming a FIFO writes into the FIFO instead of replacing it with a regular file", async () => {
  const dir = tempDir();
  const data = path.join(dir, "data");
  await writeDataDir(data, sampleEvents(12));
  const fifo = path.join(dir, "fifo");
  const made = spawnSync("mkfifo", [fifo]);
  assert.is(made.status, 0, `mkfifo: ${made.stderr}`);
  const reader = spawn("cat", [fifo]);
  let got = "";
  reader.stdout.setEncoding("utf8").on("data", (d: string) => (got += d));
  try {
    await exportArchive(data, { output: fifo });
    await until(() => got.split("\n").filter(Boolean).length === 12 || !lstatSync(fifo).isFIFO(), "the FIFO's reader got every line", 5000).catch(() => {});
    // The same happens to -o /dev/null or -o /dev/stdout when run as root: the device node is replaced.
    assert.ok(lstatSync(fifo).isFIFO(), "the FIFO was renamed over by a regular file");
    assert.is(got.split("\n").filter(Boolean).length, 12, "the FIFO's reader got nothing");
  } finally {
    reader.kill("SIGKILL");
  }
});

test("library: exportArchive to a stream whose writes fail asynchronously rejects", async () => {
  const dir = tempDir();
  const data = path.join(dir, "data");
  await writeDataDir(data, sampleEvents(12));
  const out = createWriteStream("/dev/full");
  out.on("error", () => {});
  let outcome: string;
  try {
    const s = await exportArchive(data, { output: out });
    outcome = `resolved, written ${s.written}`;
  } catch (e) {
    outcome = `rejected: ${(e as Error).message}`;
  }
  assert.match(outcome, /^rejected: .*ENOSPC/, outcome);
});

// ---------------------------------------------------------------- the library API

test("readArchive: iterating the reader twice does not double its summary", async () => {
  const dir = tempDir();
  const data = path.join(dir, "data");
  await writeDataDir(data, sampleEvents(12));
  const reader = readArchive(data);
  for await (const _ of reader) void _;
  const first = reader.summary().events;
  try {
    for await (const _ of reader) void _;
  } catch {
    // a reader that can be iterated once only would be fine too
  }
  assert.is(first, 12);
  assert.is(reader.summary().events, 12, `summary says ${reader.summary().events} events in a log of 12`);
});

test("readArchive: a read that fails before its first event closes its file (a .jsonl with --message leaks one descriptor a call)", async () => {
  const dir = tempDir();
  const file = path.join(dir, "events.jsonl");
  writeFileSync(file, await sampleJsonLines(dir, 3));
  const fds = () => readdirSync("/proc/self/fd").length;
  const before = fds();
  for (let i = 0; i < 20; i++) {
    try {
      for await (const _ of readArchive(file, { message: "VrpEvent" })) void _;
    } catch {
      // expected: bare messages only in delimited input
    }
  }
  await until(() => fds() - before < 5, "the descriptors given back", 5000);
});

test.run();
