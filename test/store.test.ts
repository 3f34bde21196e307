/** The durable event log: appends, reads, group commit, recovery, and a real crash. */
import { spawn } from "node:child_process";
import { appendFileSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  INLINE_WRITE,
  LogClosedError,
  LogCorruptionError,
  LogLockedError,
  SegmentLog,
  writeOnLoop,
  type DamageReport,
} from "../src/store/segment-log.js";
import type { LogRecord } from "../src/store/event-log.js";
import { repoRoot, tempDir } from "./support/repo.js";

const text = (r: LogRecord) => Buffer.from(r.payload).toString();
async function all(log: SegmentLog, from?: bigint): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for await (const r of log.read(from)) out.push(r);
  return out;
}

test("appends get consecutive sequences and read back in order, after a reopen too", async () => {
  const dir = tempDir();
  let log = await SegmentLog.open({ dir });
  const seqs = [];
  for (let i = 0; i < 10; i++) seqs.push(await log.append(Buffer.from(`r${i}`)));
  assert.equal(seqs, [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n]);
  assert.equal(
    (await all(log)).map(text),
    Array.from({ length: 10 }, (_, i) => `r${i}`),
  );
  assert.equal(
    (await all(log, 8n)).map((r) => r.sequence),
    [8n, 9n, 10n],
  );
  await log.close();
  log = await SegmentLog.open({ dir });
  assert.is(log.lastSequence, 10n);
  assert.is(await log.append(Buffer.from("r10")), 11n);
  assert.is((await all(log)).length, 11);
  await log.close();
});

test("concurrent appends share fsyncs (group commit)", async () => {
  const log = await SegmentLog.open({ dir: tempDir() });
  const seqs = await Promise.all(Array.from({ length: 500 }, (_, i) => log.append(Buffer.from(`r${i}`))));
  assert.equal(new Set(seqs).size, 500);
  assert.is(log.stats.appends, 500);
  assert.ok(log.stats.syncs < 100, `${log.stats.syncs} fsyncs for 500 concurrent appends`);
  assert.equal(
    (await all(log)).map(text),
    Array.from({ length: 500 }, (_, i) => `r${i}`),
  );
  await log.close();
});

test("which writes go on the event loop (writeOnLoop): a small lone group while writes are quick as a rule; a large one, a gathered batch, a follow-on batch or any while writes are slow go through the pool", () => {
  const lone = { groups: 1, bytes: 400, first: true, typicalWriteMs: 0.2 };
  const cases: [typeof lone, boolean][] = [
    [lone, true],
    [{ ...lone, typicalWriteMs: 0 }, true], // the log's first write
    [{ ...lone, bytes: INLINE_WRITE.maxBytes }, true],
    [{ ...lone, bytes: INLINE_WRITE.maxBytes + 1 }, false], // a max-size event: milliseconds of writing
    [{ ...lone, groups: 2 }, false], // appends made in one turn: a group commit
    [{ ...lone, first: false }, false], // arrived while a write ran: others are coming
    [{ ...lone, typicalWriteMs: INLINE_WRITE.typicalMs }, false], // a slow disk must not hold the loop
    [{ ...lone, typicalWriteMs: 40 }, false],
  ];
  for (const [batch, onLoop] of cases) assert.is(writeOnLoop(batch), onLoop, JSON.stringify(batch));
});

test("with writeLoneBatchesOnLoop, appends one at a time are written on the event loop; appends made together share one write through the pool", async () => {
  const log = await SegmentLog.open({ dir: tempDir(), writeLoneBatchesOnLoop: true });
  for (let i = 0; i < 20; i++) await log.append(Buffer.from(`alone-${i}`));
  assert.is(log.stats.syncs, 20);
  // The first on the loop (no write was slow before it); the others too, unless a write was slow (a loaded disk).
  assert.ok(log.stats.syncsOnLoop >= 1, `${log.stats.syncsOnLoop} of 20 lone appends written on the loop`);
  const onLoop = log.stats.syncsOnLoop;
  await Promise.all(Array.from({ length: 200 }, (_, i) => log.append(Buffer.from(`together-${i}`))));
  assert.is(log.stats.syncsOnLoop, onLoop, "a gathered batch is never written on the loop");
  assert.ok(log.stats.syncs - 20 < 20, `${log.stats.syncs - 20} writes for 200 appends made together`);
  assert.equal((await all(log)).map(text), [
    ...Array.from({ length: 20 }, (_, i) => `alone-${i}`),
    ...Array.from({ length: 200 }, (_, i) => `together-${i}`),
  ]);
  await log.close();
});

test("by default (an embedding application's loop: the emitter's spool) every write goes through the thread pool", async () => {
  const log = await SegmentLog.open({ dir: tempDir() });
  for (let i = 0; i < 5; i++) await log.append(Buffer.from(`alone-${i}`));
  assert.is(log.stats.syncs, 5);
  assert.is(log.stats.syncsOnLoop, 0);
  await log.close();
});

test("segments roll over and reads cross them", async () => {
  const dir = tempDir();
  const log = await SegmentLog.open({ dir, segmentBytes: 1024 });
  for (let i = 0; i < 200; i++) await log.append(Buffer.from(`record number ${i}`));
  const segments = readdirSync(dir).filter((f) => f.endsWith(".seg"));
  assert.ok(segments.length > 3, `${segments.length} segments`);
  assert.equal(
    (await all(log, 150n)).map((r) => r.sequence),
    Array.from({ length: 51 }, (_, i) => BigInt(150 + i)),
  );
  await log.close();
  const reopened = await SegmentLog.open({ dir, segmentBytes: 1024 });
  assert.is(reopened.lastSequence, 200n);
  assert.is((await all(reopened)).length, 200);
  await reopened.close();
});

test("subscribers see each durable record once", async () => {
  const log = await SegmentLog.open({ dir: tempDir() });
  const seen: bigint[] = [];
  const stop = log.subscribe((r) => seen.push(r.sequence));
  await Promise.all([1, 2, 3].map((i) => log.append(Buffer.from(String(i)))));
  stop();
  await log.append(Buffer.from("4"));
  assert.equal(seen, [1n, 2n, 3n]);
  await log.close();
});

async function damagedTail(
  damage: (file: string) => void,
): Promise<{ reports: DamageReport[]; records: string[]; next: bigint }> {
  const dir = tempDir();
  const log = await SegmentLog.open({ dir });
  for (let i = 0; i < 5; i++) await log.append(Buffer.from(`good-${i}`));
  await log.close();
  const file = path.join(dir, readdirSync(dir).find((f) => f.endsWith(".seg"))!);
  damage(file);
  const reports: DamageReport[] = [];
  const reopened = await SegmentLog.open({ dir, onDamage: (r) => reports.push(r) });
  const records = (await all(reopened)).map(text);
  const next = await reopened.append(Buffer.from("after"));
  await reopened.close();
  return { reports, records, next };
}

test("a torn tail record is reported and cut; everything before it is kept", async () => {
  const { reports, records, next } = await damagedTail((file) => truncateSync(file, statSync(file).size - 3));
  assert.equal(records, ["good-0", "good-1", "good-2", "good-3"]);
  assert.is(reports.length, 1);
  assert.match(reports[0]!.reason, /a frame cut short by the end of the file/);
  assert.is(next, 5n);
});

test("a torn header at the tail is cut", async () => {
  const { reports, records } = await damagedTail((file) => appendFileSync(file, Buffer.from([7, 0, 0])));
  assert.is(records.length, 5);
  assert.match(reports[0]!.reason, /header cut short/);
  assert.is(reports[0]!.bytesCut, 3);
});

test("a flipped byte in the last, complete record is refused, not cut: that record was acknowledged", async () => {
  const dir = tempDir();
  const log = await SegmentLog.open({ dir });
  for (let i = 0; i < 5; i++) await log.append(Buffer.from(`good-${i}`));
  await log.close();
  const file = path.join(dir, readdirSync(dir).find((f) => f.endsWith(".seg"))!);
  const bytes = readFileSync(file);
  bytes[bytes.length - 2] ^= 0x40;
  writeFileSync(file, bytes);
  try {
    await SegmentLog.open({ dir });
    assert.unreachable("opened a log whose last acknowledged record is damaged");
  } catch (e) {
    assert.instance(e, LogCorruptionError);
    assert.match((e as Error).message, /payload checksum mismatch \(record 5\)/);
    assert.is((e as LogCorruptionError).rule, "checksum");
  }
  assert.is(statSync(file).size, bytes.length, "nothing was cut");
});

test("damage before the tail in a segment without a sealed index refuses to open, naming where", async () => {
  const dir = tempDir();
  const log = await SegmentLog.open({ dir, segmentBytes: 64 });
  for (let i = 0; i < 10; i++) await log.append(Buffer.from(`record-${i}-padding-padding`));
  await log.close();
  const first = path.join(
    dir,
    readdirSync(dir)
      .filter((f) => f.endsWith(".seg"))
      .sort()[0]!,
  );
  const bytes = readFileSync(first);
  bytes[32 + 24 + 2] ^= 0xff; // the first record's payload (after the 32-byte segment header and its 24-byte frame header)
  writeFileSync(first, bytes);
  rmSync(`${first}.idx`); // without it, open scans the segment (with it, the read refuses: segment-index.test.ts)
  try {
    await SegmentLog.open({ dir });
    assert.unreachable("opened a log with damage in its middle");
  } catch (e) {
    assert.instance(e, LogCorruptionError);
    assert.match((e as Error).message, /00000000000000000001\.seg at byte 32: payload checksum mismatch/);
  }
});

test("damage in the last segment with good records after it refuses to open: nothing acknowledged is cut", async () => {
  const dir = tempDir();
  const log = await SegmentLog.open({ dir });
  for (let i = 0; i < 50; i++) await log.append(Buffer.from(`record-${i}`));
  await log.close();
  const file = path.join(dir, readdirSync(dir).find((f) => f.endsWith(".seg"))!);
  const bytes = readFileSync(file);
  bytes[32 + 24 + 1] ^= 0x01; // inside record 1
  writeFileSync(file, bytes);
  try {
    await SegmentLog.open({ dir });
    assert.unreachable("opened");
  } catch (e) {
    assert.instance(e, LogCorruptionError);
    assert.match((e as Error).message, /at byte 32: payload checksum mismatch .*log verify/);
  }
  assert.is(statSync(file).size, bytes.length, "nothing was cut");
});

test("zeros left past the end (a crash on some file systems) are cut as a tail", async () => {
  const { reports, records } = await damagedTail((file) => appendFileSync(file, Buffer.alloc(4096)));
  assert.is(records.length, 5);
  assert.is(reports[0]!.bytesCut, 4096);
});

test("one writer per directory: a second open is refused, a crashed writer's lock is taken over, readers need no lock", async () => {
  const dir = tempDir();
  const log = await SegmentLog.open({ dir });
  await log.append(Buffer.from("one"));
  try {
    await SegmentLog.open({ dir });
    assert.unreachable("opened twice");
  } catch (e) {
    assert.instance(e, LogLockedError);
  }
  const reader = await SegmentLog.open({ dir, readOnly: true });
  assert.equal((await all(reader)).map(text), ["one"]);
  await reader.close();
  await log.close();
  // A lock left by a process that is gone (pid from a finished child).
  const child = spawn(process.execPath, ["-e", ""]);
  const deadPid = child.pid!;
  await new Promise((r) => child.on("exit", r));
  writeFileSync(path.join(dir, "LOCK"), String(deadPid));
  const again = await SegmentLog.open({ dir });
  assert.is(again.lastSequence, 1n);
  await again.close();
  // A lock held by a live process.
  const holder = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"]);
  writeFileSync(path.join(dir, "LOCK"), String(holder.pid));
  try {
    await SegmentLog.open({ dir });
    assert.unreachable("opened a log a live process holds");
  } catch (e) {
    assert.match((e as Error).message, new RegExp(`in use by process ${holder.pid}`));
  } finally {
    holder.kill();
  }
});

test("appends after close are refused", async () => {
  const log = await SegmentLog.open({ dir: tempDir() });
  await log.close();
  try {
    await log.append(Buffer.from("late"));
    assert.unreachable();
  } catch (e) {
    assert.instance(e, LogClosedError);
  }
});

for (const writers of [32, 1]) {
  const how = writers === 1 ? "lone appends, written on the event loop" : "group commits through the thread pool";
  test(`crash: a writer killed with SIGKILL mid-stream loses nothing it acknowledged (${writers} in flight: ${how})`, async () => {
    const dir = tempDir();
    const child = spawn(
      process.execPath,
      [path.join(repoRoot, "dist/test/fixtures/log-writer.js"), dir, String(writers)],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const acked = new Map<bigint, number>();
    let writesOnLoop = 0;
    let partial = "";
    await new Promise<void>((resolve) => {
      child.stdout!.on("data", (chunk: Buffer) => {
        const lines = (partial + chunk.toString()).split("\n");
        partial = lines.pop()!;
        for (const line of lines) {
          const [seq, n, onLoop] = line.split(" ");
          acked.set(BigInt(seq!), Number(n));
          writesOnLoop = Number(onLoop);
        }
        if (acked.size >= 3000 && !child.killed) {
          child.kill("SIGKILL");
        }
      });
      child.on("exit", () => resolve());
    });
    assert.ok(acked.size >= 3000, `only ${acked.size} acknowledged before exit`);
    // Each lone append goes on the loop unless the write before it was slow (a loaded disk may send many through the pool).
    if (writers === 1) assert.ok(writesOnLoop > 0, `${writesOnLoop} of ${acked.size} lone appends written on the loop`);
    const reports: DamageReport[] = [];
    const log = await SegmentLog.open({ dir, segmentBytes: 64 * 1024, onDamage: (r) => reports.push(r) });
    const stored = new Map<bigint, string>();
    for await (const r of log.read()) stored.set(r.sequence, text(r));
    for (const [seq, n] of acked) {
      assert.is(stored.get(seq), `record-${n}-${"x".repeat(n % 200)}`, `acknowledged record ${seq} (#${n})`);
    }
    // Sequences are contiguous from 1: nothing in the middle went missing.
    assert.is(BigInt(stored.size), log.lastSequence);
    await log.close();
  });
}

test.run();
