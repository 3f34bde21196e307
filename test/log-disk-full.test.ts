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
import { LogFailedError, SegmentLog, type DamageReport } from "../src/store/segment-log.js";
import { tempDir } from "./support/repo.js";
import { mountTmpfs, unmount } from "./support/tmpfs.js";

test("a full disk under a lone writer (writes on the event loop): the failing append and every later one are refused, and every acknowledged record reads back", async () => {
  const mnt = tempDir("log-full-");
  mountTmpfs(mnt, "size=512k,mode=0755");
  const dir = path.join(mnt, "log");
  let log: SegmentLog | undefined;
  try {
    // One segment larger than the disk: what fails is an append's write, not the creation of a segment.
    log = await SegmentLog.open({ dir, segmentBytes: 64 * 1024 * 1024, writeLoneBatchesOnLoop: true });
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
    // Every write was on the loop (a tmpfs is never slow), so by the rule the failing one was too.
    assert.is(log.stats.syncsOnLoop, log.stats.syncs, `${log.stats.syncsOnLoop} of ${log.stats.syncs} on the loop`);
    try {
      await log.append(Buffer.from("after"));
      assert.unreachable("an append after the failure was taken");
    } catch (e) {
      assert.instance(e, LogFailedError);
    }
    await log.close();
    log = undefined;
    // As any crashed log: at most the unfinished write is a crash tail (read-only: reported, not cut).
    const reports: DamageReport[] = [];
    const reopened = await SegmentLog.open({ dir, readOnly: true, onDamage: (r) => reports.push(r) });
    try {
      const stored: string[] = [];
      for await (const r of reopened.read()) stored.push(Buffer.from(r.payload).toString());
      assert.equal(stored, acknowledged);
      assert.ok(reports.length <= 1, reports.map((r) => r.reason).join("; "));
    } finally {
      await reopened.close();
    }
  } finally {
    await log?.close().catch(() => {}); // (an assertion failed first: release the files, so that the unmount works)
    unmount(mnt);
  }
});

test.run();
