/**
 * A full disk under the event log itself (its directory on a small tmpfs),
 * with a lone writer, whose appends are written on the event loop: the
 * failing append and every later one are refused, and every acknowledged
 * record reads back. (collector-disk-full.test.ts does the same through a
 * collector under 16 concurrent callers, whose writes go through the pool.)
 *
 * Needs `mount -t tmpfs` (root, as in CI): without it the test fails, loudly.
 */
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  INLINE_WRITE,
  LogFailedError,
  nextTypicalWriteMs,
  SegmentLog,
  type DamageReport,
  type SyncReport,
} from "../src/store/segment-log.js";
import { tempDir } from "./support/repo.js";
import { mountTmpfs, unmount } from "./support/tmpfs.js";

/** The moving average the rule (writeOnLoop) reads after these writes, as the log keeps it. */
function typicalMsAfter(reports: readonly SyncReport[]): number {
  return reports.reduce((typical, r) => nextTypicalWriteMs(typical, r.seconds), 0);
}

/** Fill a 512 KiB disk with lone appends (each awaited), until one is refused. */
async function fillDisk(): Promise<{ acknowledged: string[]; reports: SyncReport[]; failedOnLoop: boolean }> {
  const mnt = tempDir("log-full-");
  mountTmpfs(mnt, "size=512k,mode=0755");
  const dir = path.join(mnt, "log");
  const reports: SyncReport[] = [];
  let log: SegmentLog | undefined;
  try {
    // One segment larger than the disk: what fails is an append's write, not the creation of a segment.
    log = await SegmentLog.open({
      dir,
      segmentBytes: 64 * 1024 * 1024,
      writeLoneBatchesOnLoop: true,
      onSync: (r) => reports.push(r),
    });
    const acknowledged: string[] = [];
    let refusal: unknown;
    for (let i = 0; refusal === undefined; i++) {
      const record = `record-${i}-${"x".repeat(1500)}`;
      try {
        await log.append(Buffer.from(record));
        acknowledged.push(record);
      } catch (e) {
        refusal = e;
      }
    }
    assert.instance(refusal, LogFailedError);
    assert.match((refusal as Error).message, /ENOSPC|short write/);
    assert.ok(acknowledged.length > 200, `${acknowledged.length} acknowledged before the disk was full`);
    // Each write went where the rule says: on the loop while the moving average was under its bound.
    // (A loaded machine can stall one write for milliseconds, which sends the next few through the pool.)
    assert.is(reports.length, acknowledged.length, "one durable write per lone append");
    for (const [i, r] of reports.entries())
      assert.is(r.onLoop, typicalMsAfter(reports.slice(0, i)) < INLINE_WRITE.typicalMs, `write ${i}: on the loop?`);
    try {
      await log.append(Buffer.from("after"));
      assert.unreachable("an append after the failure was taken");
    } catch (e) {
      assert.instance(e, LogFailedError);
    }
    await log.close();
    log = undefined;
    // As any crashed log: at most the unfinished write is a crash tail (read-only: reported, not cut).
    const damage: DamageReport[] = [];
    const reopened = await SegmentLog.open({ dir, readOnly: true, onDamage: (r) => damage.push(r) });
    try {
      const stored: string[] = [];
      for await (const r of reopened.read()) stored.push(Buffer.from(r.payload).toString());
      assert.equal(stored, acknowledged);
      assert.ok(damage.length <= 1, damage.map((r) => r.reason).join("; "));
    } finally {
      await reopened.close();
    }
    return { acknowledged, reports, failedOnLoop: typicalMsAfter(reports) < INLINE_WRITE.typicalMs };
  } finally {
    await log?.close().catch(() => {}); // (an assertion failed first: release the files, so that the unmount works)
    unmount(mnt);
  }
}

test("a full disk under a lone writer (writes on the event loop): the failing append and every later one are refused, and every acknowledged record reads back", async () => {
  // The failing write must be one made on the loop. A stalled write just before it (a loaded
  // machine) sends it through the pool instead: then the disk is filled again, up to three times.
  const paths: string[] = [];
  for (let attempt = 1; attempt <= 3; attempt++) {
    const { failedOnLoop } = await fillDisk();
    paths.push(failedOnLoop ? "loop" : "pool");
    if (failedOnLoop) return;
  }
  assert.unreachable(`the failing write was never on the event loop (attempts: ${paths.join(", ")})`);
});

test.run();
