/** The live tail shared by caught-up subscribers: each new record read once, a full subscriber never holds the others back. */
import { credentials, type ServiceError, status } from "@grpc/grpc-js";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { SubscribeRequest, type SubscribeResponse, VrpStreamServiceClient } from "../gen/vrp/v1alpha1/vrp_service.js";
import { subscribeVrp } from "../src/client/vrp.js";
import { LiveTail, type TailReader, type TailRecord } from "../src/server/live-tail.js";
import { SegmentLog } from "../src/store/segment-log.js";
import { startTestServer } from "./support/collector.js";
import { vrpEntry } from "./support/log-entries.js";
import { tempDir } from "./support/repo.js";

/** A reader that takes records until it has `capacity` of them (then says it is full). */
function reader(next: bigint, capacity = Number.POSITIVE_INFINITY) {
  const taken: bigint[] = [];
  const r: TailReader & { taken: bigint[]; next: bigint } = {
    next,
    taken,
    offer(records: readonly TailRecord[]) {
      for (const { record } of records) taken.push(record.sequence);
      r.next = records[0]!.record.sequence + 1n;
      return taken.length < capacity;
    },
    failed(error) {
      throw error;
    },
  };
  return r;
}

async function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const range = (from: bigint, n: number) => Array.from({ length: n }, (_, i) => from + BigInt(i));

test("twenty readers on the tail: each new record is read once and offered to each, in order", async () => {
  const log = await SegmentLog.open({ dir: tempDir() });
  for (let i = 0; i < 50; i++) await log.append(vrpEntry(i));
  const tail = new LiveTail(log);
  const readers = Array.from({ length: 20 }, () => reader(log.lastSequence + 1n));
  for (const r of readers) assert.ok(tail.attach(r));
  // The tail's cursor seeks to its start once; from then on each new record costs one frame.
  await log.append(vrpEntry(50));
  await until(() => readers.every((r) => r.taken.length === 1), "every reader to take the first record");
  for (const r of readers) r.taken.length = 0;
  const framesBefore = log.stats.framesRead;
  await log.appendGroup(Array.from({ length: 100 }, (_, i) => vrpEntry(51 + i)));
  await until(() => readers.every((r) => r.taken.length === 100), "every reader to take 100 records");
  for (const r of readers) assert.equal(r.taken, range(52n, 100));
  assert.is(tail.stats.recordsRead, 101);
  assert.is(log.stats.framesRead - framesBefore, 100, "frames read for 100 records and 20 readers");
  for (const r of readers) tail.detach(r);
  assert.is(tail.size, 0);
  await log.close();
});

test("a full reader is detached, the others go on; a reader behind the tail joins from the records it keeps, or catches up on its own", async () => {
  const log = await SegmentLog.open({ dir: tempDir() });
  const tail = new LiveTail(log);
  const slow = reader(1n, 3);
  const fast = reader(1n);
  assert.ok(tail.attach(slow));
  assert.ok(tail.attach(fast));
  await log.appendGroup(Array.from({ length: 10 }, (_, i) => vrpEntry(i)));
  await until(() => fast.taken.length === 10, "the fast reader to take 10");
  assert.equal(slow.taken, [1n, 2n, 3n], "the full reader took the record that filled it, then nothing");
  assert.is(tail.size, 1);
  // The tail keeps what it offered last: a reader just behind it is served that as it joins.
  slow.taken.length = 0;
  assert.not.ok(tail.attach(slow), "full again on the recent records: not joined");
  assert.equal(slow.taken, [4n, 5n, 6n]);
  const behind = reader(8n);
  assert.ok(tail.attach(behind), "a reader three records behind the tail joins");
  assert.equal(behind.taken, [8n, 9n, 10n]);
  assert.is(tail.size, 2);
  const caughtUp = reader(11n);
  assert.ok(tail.attach(caughtUp));
  await log.append(vrpEntry(10));
  await until(() => caughtUp.taken.length === 1 && fast.taken.length === 11, "both to take record 11");
  assert.equal(caughtUp.taken, [11n]);
  assert.equal(behind.taken, [8n, 9n, 10n, 11n]);
  await log.close();
});

test("a retained tail goes on with no reader attached and keeps what it offered: a reader that left full joins from it", async () => {
  const log = await SegmentLog.open({ dir: tempDir() });
  const tail = new LiveTail(log);
  const release = tail.retain(); // a subscriber that may come back
  const slow = reader(1n, 2);
  assert.ok(tail.attach(slow));
  await log.appendGroup(Array.from({ length: 5 }, (_, i) => vrpEntry(i)));
  await until(() => slow.taken.length === 2 && tail.size === 0, "the reader to fill and leave");
  // Nobody attached, yet the tail reads on: what comes meanwhile is kept for the reader's return.
  await log.appendGroup(Array.from({ length: 5 }, (_, i) => vrpEntry(5 + i)));
  await until(() => tail.stats.recordsRead === 10, "the tail to read the next five");
  assert.ok(tail.holds(slow.next), "it still holds what the reader is owed");
  const back = reader(slow.next);
  const framesBefore = log.stats.framesRead;
  assert.ok(tail.attach(back), "joins from the records kept");
  assert.equal(back.taken, range(3n, 8));
  assert.is(log.stats.framesRead, framesBefore, "nothing read again from the log");
  tail.detach(back);
  release();
  assert.not.ok(tail.holds(11n), "released and without readers: stopped, nothing kept");
  await log.close();
});

test("Subscribe: a stalled subscriber does not hold back the others, and gets every record without gap or duplicate once it reads", async () => {
  const server = await startTestServer({ metricsAddress: "127.0.0.1:0" });
  const heldBack = async () => {
    const text = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
    return Number(/session_events_streams_held_back\{rpc="Subscribe"\} (\d+)/.exec(text)?.[1]);
  };
  const client = new VrpStreamServiceClient(server.target, credentials.createInsecure());
  try {
    const sessions = ["sess-a", "sess-b", "sess-c"];
    const live = sessions.map((sessionId) =>
      subscribeVrp({ target: server.target, sessionId })[Symbol.asyncIterator](),
    );
    // The stalled one follows every session and stops reading once its first record arrives.
    const stalled = client.subscribe(SubscribeRequest.fromPartial({}));
    const stalledSeen: bigint[] = [];
    let ended: status | undefined;
    stalled.on("error", (e: ServiceError) => {
      ended = e.code;
    });
    stalled.on("data", (r: SubscribeResponse) => {
      stalledSeen.push(r.sequence);
      if (stalledSeen.length === 1) stalled.pause();
    });
    const total = 3_000; // about 1 MiB of answers: far more than the stream's buffers hold
    const appends: Promise<bigint>[] = [];
    for (let i = 0; i < total; i++) appends.push(server.log.append(vrpEntry(i, sessions[i % 3])));
    const stored = await Promise.all(appends);
    const perSession = await Promise.all(
      live.map(async (it) => {
        const got: bigint[] = [];
        while (got.length < total / 3) got.push((await it.next()).value!.sequence);
        return got;
      }),
    );
    for (const [s, got] of perSession.entries())
      assert.equal(
        got,
        stored.filter((_, i) => i % 3 === s),
      );
    // The others finished while the stalled one is held back by its own full stream.
    assert.is(await heldBack(), 1, "Subscribe streams waiting for their client to read");
    assert.ok(stalledSeen.length < total);
    stalled.resume();
    await until(() => stalledSeen.length === total, "the stalled subscriber to read everything", 30_000);
    assert.equal(stalledSeen, stored);
    for (const it of live) await it.return?.(undefined);
    stalled.cancel();
    await until(() => ended !== undefined, "the cancelled call to end");
    assert.is(ended, status.CANCELLED);
  } finally {
    client.close();
    await server.shutdown(0);
  }
});

test("Subscribe: a subscriber that filled up gets its next record after its consumer read, also when only other sessions' records came meanwhile", async () => {
  const server = await startTestServer();
  const client = new VrpStreamServiceClient(server.target, credentials.createInsecure());
  try {
    const mine = client.subscribe(SubscribeRequest.fromPartial({ sessionId: "mine" }));
    const seen: bigint[] = [];
    mine.on("error", () => {});
    mine.on("data", (r: SubscribeResponse) => {
      seen.push(r.sequence);
      if (seen.length === 1) mine.pause(); // fills its stream with what follows
    });
    const total = 3_000; // about 1 MiB of answers: far more than the stream's buffers hold
    const appends: Promise<bigint>[] = [];
    for (let i = 0; i < total; i++) appends.push(server.log.append(vrpEntry(i, "mine")));
    await Promise.all(appends);
    // Resume only once it has stopped reading: on a busy machine the first record may arrive after the appends.
    await until(() => mine.isPaused(), "the subscriber to stop reading at its first record");
    mine.resume();
    await until(() => seen.length === total, "the subscriber to read everything", 30_000);
    // Only other sessions' records now: nothing is written to it, and it must still be following.
    for (let i = 0; i < 500; i++) await server.log.append(vrpEntry(i, "theirs"));
    const last = await server.log.append(vrpEntry(0, "mine"));
    await until(() => seen.at(-1) === last, "the subscriber to get its next record", 15_000);
    assert.is(seen.length, total + 1);
    mine.cancel();
  } finally {
    client.close();
    await server.shutdown(0);
  }
});

test.run();
