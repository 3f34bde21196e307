/** SegmentLog.removeSegmentsBefore and firstSequence: retention removes closed segments, oldest first, and reads say what is gone. */
import { readdirSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { SessionEventsError } from "../src/errors.js";
import { LogOutOfRangeError, SegmentLog } from "../src/store/segment-log.js";
import { createSegment } from "../src/store/segment-file.js";
import type { LogRecord } from "../src/store/event-log.js";
import { tempDir } from "./support/repo.js";

const segs = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith(".seg"))
    .sort();
async function all(log: SegmentLog, from?: bigint): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for await (const r of log.read(from)) out.push(r);
  return out;
}
async function filled(dir: string, records = 200): Promise<SegmentLog> {
  const log = await SegmentLog.open({ dir, segmentBytes: 1024 });
  for (let i = 0; i < records; i++) await log.append(Buffer.from(`record number ${i}`));
  return log;
}
const firstOf = (name: string) => BigInt(name.slice(0, 20));

test("removes the closed segments wholly before the sequence, oldest first, and names them", async () => {
  const dir = tempDir();
  const log = await filled(dir);
  const before = segs(dir);
  assert.ok(before.length > 4, `${before.length} segments`);
  assert.is(log.firstSequence, 1n);
  // A sequence inside the third segment: the first two go, the third stays (it holds records >= sequence).
  const cut = firstOf(before[2]!) + 1n;
  const removed = await log.removeSegmentsBefore(cut);
  assert.equal(removed, before.slice(0, 2));
  assert.equal(segs(dir), before.slice(2));
  assert.is(log.firstSequence, firstOf(before[2]!));
  // Exactly at a segment's first record: the segments before it go.
  assert.equal(await log.removeSegmentsBefore(firstOf(before[3]!)), [before[2]!]);
  assert.equal(await log.removeSegmentsBefore(firstOf(before[3]!)), [], "nothing more to remove");
  // What is held still reads, from its first sequence or with no position.
  assert.equal((await all(log)).map((r) => r.sequence)[0], firstOf(before[3]!));
  assert.is((await all(log, firstOf(before[3]!))).length, 200 - Number(firstOf(before[3]!)) + 1);
  await log.close();
});

test("never removes the active segment", async () => {
  const dir = tempDir();
  const log = await filled(dir);
  const last = segs(dir).at(-1)!;
  await log.removeSegmentsBefore(log.lastSequence + 1000n);
  assert.equal(segs(dir), [last]);
  assert.is(log.firstSequence, firstOf(last));
  assert.is(await log.append(Buffer.from("more")), 201n);
  await log.close();
});

test("reading a removed position fails with OUT_OF_RANGE naming the oldest position held", async () => {
  const dir = tempDir();
  const log = await filled(dir);
  await log.removeSegmentsBefore(100n);
  const first = log.firstSequence;
  for (const from of [1n, first - 1n]) {
    try {
      await all(log, from);
      assert.unreachable(`read from ${from} should fail`);
    } catch (e) {
      assert.instance(e, LogOutOfRangeError);
      assert.instance(e, SessionEventsError);
      const error = e as LogOutOfRangeError;
      assert.is(error.code, "OUT_OF_RANGE");
      assert.is(error.firstSequence, first);
      assert.match(error.message, `the oldest sequence still held is ${first}`);
    }
  }
  await log.close();
});

test("a read inside a segment when it is removed finishes it, then fails at the next removed one", async () => {
  const dir = tempDir();
  const log = await filled(dir);
  const names = segs(dir);
  const reader = log.read(1n)[Symbol.asyncIterator]();
  assert.is((await reader.next()).value.sequence, 1n); // the first segment's file is open now
  await log.removeSegmentsBefore(firstOf(names[3]!));
  const seen: bigint[] = [];
  try {
    for (let step = await reader.next(); !step.done; step = await reader.next()) seen.push(step.value.sequence);
    assert.unreachable("should fail at the second segment");
  } catch (e) {
    assert.instance(e, LogOutOfRangeError, String(e));
    assert.is((e as LogOutOfRangeError).requested, firstOf(names[1]!));
  }
  assert.is(seen.at(-1), firstOf(names[1]!) - 1n, "the open segment was read to its end");
  await log.close();
});

test("a log whose first segment starts after 1 reopens, and appends go on", async () => {
  const dir = tempDir();
  let log = await filled(dir);
  await log.removeSegmentsBefore(150n);
  const first = log.firstSequence;
  await log.close();
  log = await SegmentLog.open({ dir, segmentBytes: 1024 });
  assert.is(log.firstSequence, first);
  assert.is(log.lastSequence, 200n);
  assert.is(await log.append(Buffer.from("after")), 201n);
  assert.equal(
    (await all(log)).map((r) => r.sequence),
    Array.from({ length: 202 - Number(first) }, (_, i) => first + BigInt(i)),
  );
  await log.close();
});

test("a log left with only an empty active segment reopens at the right sequence", async () => {
  const dir = tempDir();
  let log = await filled(dir);
  await log.close();
  await createSegment(dir, 201n); // as a crash just after a roll-over leaves it
  log = await SegmentLog.open({ dir, segmentBytes: 1024 });
  await log.removeSegmentsBefore(201n);
  await log.close();
  assert.equal(segs(dir), ["00000000000000000201.seg"]);
  log = await SegmentLog.open({ dir, segmentBytes: 1024 });
  assert.is(log.lastSequence, 200n);
  assert.is(log.firstSequence, 201n);
  assert.is(await log.append(Buffer.from("next")), 201n);
  await log.close();
});

test("removals asked for at once run one after the other", async () => {
  const dir = tempDir();
  const log = await filled(dir);
  const names = segs(dir);
  const [a, b] = await Promise.all([
    log.removeSegmentsBefore(firstOf(names[2]!)),
    log.removeSegmentsBefore(firstOf(names[4]!)),
  ]);
  assert.equal([...a!, ...b!], names.slice(0, 4));
  assert.equal(segs(dir), names.slice(4));
  await log.close();
});

test("a read-only log refuses to remove segments", async () => {
  const dir = tempDir();
  const log = await filled(dir, 20);
  const reader = await SegmentLog.open({ dir, readOnly: true });
  await reader.removeSegmentsBefore(10n).then(
    () => assert.unreachable("should refuse"),
    (e: Error) => assert.match(e.message, "read-only"),
  );
  await reader.close();
  await log.close();
});

test.run();
