/** readArchive and verifyArchive as a library: damage counted once, files closed, summaries not doubled. */
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "uvu";
import { until } from "./support/until.js";
import * as assert from "uvu/assert";
import { readArchive, verifyArchive } from "../src/archive/index.js";
import { HEADER_BYTES, SEGMENT_HEADER_BYTES } from "../src/store/frame.js";
import { LogCorruptionError, SegmentLog } from "../src/store/segment-log.js";
import { logEntryBytes, sampleEvents, writeDataDir, writeSegmentFile, sampleJsonLines } from "./support/archive-log.js";
import { tempDir } from "./support/repo.js";

test("a single flipped payload byte in a data directory costs one damaged record, not two (checksum + 'records N are missing')", async () => {
  const dir = tempDir();
  const data = path.join(dir, "data");
  await writeDataDir(data, sampleEvents(40), 1024);
  const seg = readdirSync(data)
    .filter((n) => n.endsWith(".seg"))
    .sort()[1]!;
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
  const last = path.join(
    data,
    readdirSync(data)
      .filter((n) => n.endsWith(".seg"))
      .sort()
      .at(-1)!,
  );
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

test("readArchive: breaking out of the loop closes the input file (no descriptor leak)", async () => {
  const dir = tempDir();
  const file = path.join(dir, "log.seg");
  writeSegmentFile(file, sampleEvents(8).map(logEntryBytes));
  const fds = () => readdirSync("/proc/self/fd").length;
  const before = fds();
  for (let i = 0; i < 50; i++) {
    for await (const _ of readArchive(file)) break;
  }
  // Closing is asynchronous: wait (with a deadline) for the descriptors to be given back.
  await until(() => fds() - before < 5, "the descriptors of 50 early breaks given back", 5000);
});

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
