/** Following the log by byte offset (SegmentLog.follow, and Subscribe on it): one new record costs one frame, whatever the segment holds. */
import { status, type ServiceError } from "@grpc/grpc-js";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { subscribeVrp } from "../src/client/vrp.js";
import { LogOutOfRangeError, SegmentLog } from "../src/store/segment-log.js";
import type { LogFollower, LogRecord } from "../src/store/event-log.js";
import { startTestServer } from "./support/collector.js";
import { vrpEntry } from "./support/log-entries.js";
import { tempDir } from "./support/repo.js";

async function drain(cursor: LogFollower): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for await (const r of cursor.records()) out.push(r);
  return out;
}
/** `n` small records, appended in groups (one fsync each). */
async function fill(log: SegmentLog, n: number, size = 40, group = 1000): Promise<void> {
  for (let done = 0; done < n; done += group) {
    await log.appendGroup(Array.from({ length: Math.min(group, n - done) }, (_, i) => Buffer.alloc(size, done + i)));
  }
}

for (const records of [1_000, 100_000]) {
  test(`a caught-up cursor reads one frame per new record (${records} records in the segment)`, async () => {
    const log = await SegmentLog.open({ dir: tempDir() });
    await fill(log, records);
    const cursor = log.follow(1n);
    assert.is((await drain(cursor)).length, records);
    for (let i = 0; i < 3; i++) {
      const before = log.stats.framesRead;
      const sequence = await log.append(Buffer.from(`new ${i}`));
      assert.equal(
        (await drain(cursor)).map((r) => r.sequence),
        [sequence],
      );
      assert.is(log.stats.framesRead - before, 1, "frames read to deliver one record");
    }
    const before = log.stats.framesRead;
    assert.equal(await drain(cursor), [], "nothing new");
    assert.is(log.stats.framesRead, before, "nothing new: nothing read");
    await log.close();
  });
}

test("a cursor starts anywhere (middle, end, future) and hands out each record once across roll-overs", async () => {
  const log = await SegmentLog.open({ dir: tempDir(), segmentBytes: 1024 });
  await fill(log, 50, 30, 5);
  assert.equal(
    (await drain(log.follow(20n))).map((r) => r.sequence),
    Array.from({ length: 31 }, (_, i) => BigInt(20 + i)),
  );
  const future = log.follow(60n);
  const tail = log.follow(51n);
  const seen: bigint[] = [];
  // Appends and reads interleave: segments roll over (1 KiB) while the cursor follows.
  const appends = Promise.all(Array.from({ length: 300 }, (_, i) => log.append(Buffer.alloc(30, i))));
  while (seen.length < 300) {
    for await (const r of tail.records()) seen.push(r.sequence);
    await new Promise((r) => setImmediate(r));
  }
  await appends;
  assert.equal(
    seen,
    Array.from({ length: 300 }, (_, i) => BigInt(51 + i)),
  );
  assert.is((await drain(future))[0]!.sequence, 60n);
  await log.close();
});

test("a cursor from a removed position, or overtaken by retention, fails with OUT_OF_RANGE", async () => {
  const log = await SegmentLog.open({ dir: tempDir(), segmentBytes: 1024 });
  await fill(log, 200, 30, 5);
  const slow = log.follow(1n);
  const reader = slow.records()[Symbol.asyncIterator]();
  await reader.next(); // inside the first segment
  await log.removeSegmentsBefore(150n);
  const first = log.firstSequence;
  try {
    for (let step = await reader.next(); !step.done; step = await reader.next());
    assert.unreachable("the cursor should be told its records were removed");
  } catch (e) {
    assert.instance(e, LogOutOfRangeError);
    assert.is((e as LogOutOfRangeError).firstSequence, first);
  }
  assert.throws(
    () => log.follow(first - 1n),
    (e: Error) => e instanceof LogOutOfRangeError && e.message.includes(`oldest sequence still held is ${first}`),
  );
  assert.is((await drain(log.follow(first)))[0]!.sequence, first);
  await log.close();
});

test("Subscribe delivers a new record with one frame read, replay then live without gap or duplicate", async () => {
  const server = await startTestServer();
  try {
    const prefill = 5_000;
    for (let done = 0; done < prefill; done += 1000)
      await server.log.appendGroup(Array.from({ length: 1000 }, (_, i) => vrpEntry(done + i)));
    const last = server.log.lastSequence;
    const subscription = subscribeVrp({ target: server.target, sessionId: "sess-tail", afterSequence: last - 100n })[
      Symbol.asyncIterator
    ]();
    const seen: bigint[] = [];
    while (seen.at(-1) !== last) seen.push((await subscription.next()).value!.sequence);
    for (let i = 0; i < 5; i++) {
      const before = server.log.stats.framesRead;
      const sequence = await server.log.append(vrpEntry(prefill + i));
      seen.push((await subscription.next()).value!.sequence);
      assert.is(seen.at(-1), sequence);
      assert.is(server.log.stats.framesRead - before, 1, "frames read to deliver one record");
    }
    assert.equal(
      seen,
      Array.from({ length: 105 }, (_, i) => last - 99n + BigInt(i)),
    );
    await subscription.return(undefined);
  } finally {
    await server.shutdown(0);
  }
});

test("Subscribe from a position retention removed answers OUT_OF_RANGE naming the oldest position held", async () => {
  const server = await startTestServer({ segmentBytes: 4096 });
  try {
    for (let i = 0; i < 200; i++) await server.log.append(vrpEntry(i));
    await server.log.removeSegmentsBefore(100n);
    const first = server.log.firstSequence;
    assert.ok(first > 1n);
    const asked = performance.now();
    try {
      for await (const _ of subscribeVrp({ target: server.target, afterSequence: 0n }))
        assert.unreachable("no record should come");
      assert.unreachable("the subscription should fail");
    } catch (e) {
      assert.is((e as ServiceError).code, status.OUT_OF_RANGE);
      assert.match((e as ServiceError).details, `oldest sequence still held is ${first}`);
    }
    // Not retried: asking again cannot bring the position back (retrying took the reconnect budget, 30 s).
    const waited = performance.now() - asked;
    assert.ok(waited < 10_000, `OUT_OF_RANGE reached the caller after ${Math.round(waited)} ms`);
    const from = subscribeVrp({ target: server.target, afterSequence: first - 1n })[Symbol.asyncIterator]();
    assert.is((await from.next()).value!.sequence, first);
    await from.return(undefined);
  } finally {
    await server.shutdown(0);
  }
});

test.run();
