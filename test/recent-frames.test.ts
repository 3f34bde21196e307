/**
 * The frames the log made durable last, kept in memory for cursors at the
 * head of the log: what they hold, what they let go of, and that a cursor
 * takes the newest records from there (no file read) and anything older from
 * the file, with the same records either way.
 */
import { readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { RecentFrames, type HeldFrame } from "../src/store/recent-frames.js";
import { SegmentLog } from "../src/store/segment-log.js";
import type { LogRecord } from "../src/store/event-log.js";
import { vrpEntry } from "./support/log-entries.js";
import { tempDir } from "./support/repo.js";

const frame = (sequence: number, offset: number, size = 100): HeldFrame => ({
  sequence: BigInt(sequence),
  payload: new Uint8Array(size - 24),
  offset,
  size,
});

test("range: the frames between two offsets when every one is held; nothing when any is missing or the file changed", () => {
  const recent = new RecentFrames(4, 1 << 20);
  for (let i = 0; i < 6; i++) recent.add("a.seg", frame(i + 1, 32 + i * 100));
  // Holds the last 4 (sequences 3..6, offsets 232..532).
  assert.equal(
    recent.range("a.seg", 232, 632)?.map((f) => f.sequence),
    [3n, 4n, 5n, 6n],
  );
  assert.equal(
    recent.range("a.seg", 432, 632)?.map((f) => f.sequence),
    [5n, 6n],
  );
  assert.is(recent.range("a.seg", 132, 632), undefined, "an evicted frame");
  assert.is(recent.range("a.seg", 250, 632), undefined, "not a frame's start");
  assert.is(recent.range("a.seg", 432, 600), undefined, "not a frame's end");
  assert.is(recent.range("b.seg", 232, 632), undefined, "another file");
  recent.add("b.seg", frame(7, 32));
  assert.is(recent.range("a.seg", 532, 632), undefined, "a new segment starts afresh");
  assert.equal(
    recent.range("b.seg", 32, 132)?.map((f) => f.sequence),
    [7n],
  );
});

test("bounded in bytes as well as in frames", () => {
  const recent = new RecentFrames(1000, 250);
  for (let i = 0; i < 5; i++) recent.add("a.seg", frame(i + 1, 32 + i * 100));
  assert.is(recent.range("a.seg", 232, 532), undefined, "three frames are 300 bytes");
  assert.equal(
    recent.range("a.seg", 332, 532)?.map((f) => f.sequence),
    [4n, 5n],
  );
});

async function all(records: AsyncIterable<LogRecord>): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for await (const r of records) out.push(r);
  return out;
}

test("a cursor at the head of the log takes what was just made durable from memory, and older records from the file", async () => {
  const dir = tempDir();
  const log = await SegmentLog.open({ dir });
  try {
    // More frames than memory keeps (4,096): the oldest are only in the file.
    await log.appendGroup(Array.from({ length: 5000 }, (_, i) => vrpEntry(i)));
    const atHead = log.follow(log.lastSequence + 1n);
    assert.equal(await all(atHead.records()), []);
    await log.appendGroup(Array.from({ length: 30 }, (_, i) => vrpEntry(5000 + i)));
    // The segment file is gone from under the cursors: only memory can answer.
    const [segment] = readdirSync(dir).filter((f) => f.endsWith(".seg"));
    rmSync(path.join(dir, segment!));
    const fresh = await all(atHead.records());
    assert.equal(
      fresh.map((r) => r.sequence),
      Array.from({ length: 30 }, (_, i) => BigInt(5001 + i)),
    );
    assert.equal(
      fresh.map((r) => Buffer.from(r.payload).toString("hex")),
      Array.from({ length: 30 }, (_, i) => vrpEntry(5000 + i).toString("hex")),
    );
    const older = await all(log.follow(1n).records()).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(older instanceof Error, "the oldest records are read from the file (gone here)");
  } finally {
    await log.close();
  }
});

test.run();
