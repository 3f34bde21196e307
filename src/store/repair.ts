/**
 * Checking and repairing a data directory by hand, as etcd's WAL tools do:
 *
 * - verifyLog reads every segment (resynchronising after damage, so every
 *   damaged place is found) and changes nothing.
 * - repairLog moves every damaged span aside, into a file next to its
 *   segment (`NAME.seg.damaged-OFFSET`), rewrites the segment without it
 *   (write, fsync, rename, fsync the directory), and records the sequences
 *   that are now missing in the directory's REPAIRS journal, so that the log
 *   opens again. No byte is deleted.
 */
import { open } from "node:fs/promises";
import { writeFileAtomic } from "./atomic-write.js";
import path from "node:path";
import { acquireLock, releaseLock } from "./lock.js";
import { LogCorruptionError } from "./errors.js";
import { encodeFrame, encodeSegmentHeader } from "./frame.js";
import type { FrameDamage } from "./frame-reader.js";
import { syncPath } from "./fsync.js";
import { removeSegmentIndex } from "./segment-index.js";
import {
  REPAIRS_FILE,
  checkSegmentHeader,
  listSegments,
  loadRepairedGaps,
  segmentFrames,
  type SegmentFile,
} from "./segment-file.js";

/** One segment's records and damage. */
export interface SegmentReport {
  readonly file: string;
  readonly first: bigint;
  readonly records: number;
  /** Sequence of the last good record (undefined: none). */
  readonly last: bigint | undefined;
  readonly damage: readonly DamageFound[];
}

/** One damage found: where and which rule. */
export interface DamageFound {
  readonly offset: number;
  readonly bytes: number;
  readonly rule: string;
  readonly message: string;
  /** A crash tail of the last segment: never acknowledged, and what open cuts by itself. */
  readonly unfinished: boolean;
}

/** What verifyLog found in a log directory. */
export interface LogReport {
  readonly dir: string;
  readonly segments: readonly SegmentReport[];
  /** Damage that open refuses (anything but an unfinished tail). */
  readonly damaged: boolean;
}

interface Scan {
  readonly report: SegmentReport;
  readonly kept: { sequence: bigint; payload: Buffer }[];
  /** The segment's last bytes are damage (no good record after it). */
  readonly endedInDamage: boolean;
}

/** Read everything, change nothing. */
export async function verifyLog(dir: string): Promise<LogReport> {
  const scans = await scanAll(dir);
  return toReport(dir, scans);
}

function toReport(dir: string, scans: readonly Scan[]): LogReport {
  const segments = scans.map((s) => s.report);
  return { dir, segments, damaged: segments.some((s) => s.damage.some((d) => !d.unfinished)) };
}

async function scanAll(dir: string): Promise<Scan[]> {
  const listed = await listSegments(dir);
  const gaps = await loadRepairedGaps(dir);
  const scans: Scan[] = [];
  for (const [i, segment] of listed.entries()) scans.push(await scanSegment(segment, i === listed.length - 1, gaps));
  return scans;
}

async function scanSegment(segment: SegmentFile, isLast: boolean, gaps: Map<bigint, bigint>): Promise<Scan> {
  const damage: DamageFound[] = [];
  try {
    const header = await checkSegmentHeader(segment, isLast);
    if (header.kind === "unfinished") {
      damage.push({
        offset: 0,
        bytes: segment.size,
        rule: "torn",
        message: "a segment header that never reached the disk whole",
        unfinished: true,
      });
      return {
        report: { file: segment.file, first: segment.first, records: 0, last: undefined, damage },
        kept: [],
        endedInDamage: false,
      };
    }
  } catch (e) {
    if (!(e instanceof LogCorruptionError)) throw e;
    if (e.rule === "format") throw e; // another format: repair cannot help (see `log upgrade`)
    damage.push({ offset: 0, bytes: 32, rule: e.rule, message: e.detail, unfinished: false });
  }
  const kept: { sequence: bigint; payload: Buffer }[] = [];
  const reader = segmentFrames(segment, segment.size, { resync: true, repairedGap: (last) => gaps.get(last) });
  let step = await reader.next();
  for (; !step.done; step = await reader.next()) {
    const item = step.value;
    if (item.kind === "record") kept.push({ sequence: item.sequence, payload: item.payload });
    else damage.push(found(item, isLast));
  }
  return {
    report: { file: segment.file, first: segment.first, records: kept.length, last: kept.at(-1)?.sequence, damage },
    kept,
    endedInDamage: step.value.endedInDamage,
  };
}

function found(item: FrameDamage, isLast: boolean): DamageFound {
  return {
    offset: item.offset,
    bytes: item.bytes,
    rule: item.rule,
    message: item.message,
    unfinished: item.crashTail && isLast,
  };
}

/** What repairLog moved aside, besides the report. */
export interface RepairResult extends LogReport {
  /** Files written next to segments, holding the bytes moved aside. */
  readonly movedAside: readonly string[];
  /** Sequences no longer in the log: [after, next) exclusive on both ends; next undefined = to the end. */
  readonly removed: readonly { after: bigint; next: bigint | undefined }[];
  /** Something that was not an unfinished tail was moved aside: acknowledged records may be among it. */
  readonly lostAcknowledged: boolean;
}

/** Move every damaged span aside and make the log open again. Takes the log's lock. */
export async function repairLog(dir: string): Promise<RepairResult> {
  const lock = await acquireLock(path.resolve(dir));
  try {
    const scans = await scanAll(dir);
    const movedAside: string[] = [];
    for (const scan of scans) {
      if (scan.report.damage.length === 0) continue;
      movedAside.push(...(await moveAside(scan)));
    }
    const removed = await recordGaps(dir, scans);
    return {
      ...toReport(dir, scans),
      movedAside,
      removed,
      lostAcknowledged: scans.some((s) => s.report.damage.some((d) => !d.unfinished)),
    };
  } finally {
    await releaseLock(lock);
  }
}

/** Copy the damaged spans out, then replace the segment with its header and its good records. */
async function moveAside(scan: Scan): Promise<string[]> {
  const { file, first } = scan.report;
  const written: string[] = [];
  const source = await open(file, "r");
  try {
    for (const d of scan.report.damage) {
      if (d.bytes === 0) continue;
      const bytes = Buffer.alloc(d.bytes);
      await source.read(bytes, 0, d.bytes, d.offset);
      const aside = `${file}.damaged-${d.offset}`;
      await writeFileAtomic(aside, bytes);
      written.push(aside);
    }
  } finally {
    await source.close();
  }
  // Its sealed index describes the bytes being replaced: gone first, so a crash leaves a segment to scan, never a stale index.
  await removeSegmentIndex(file);
  // Every record kept stands alone: the groups it came in are long durable.
  const frames = [encodeSegmentHeader(first), ...scan.kept.map((r) => encodeFrame(r.sequence, r.payload))];
  await writeFileAtomic(file, Buffer.concat(frames));
  return written;
}

/** Journal the sequence gaps the kept records now have, so that open accepts exactly those. */
async function recordGaps(dir: string, scans: readonly Scan[]): Promise<{ after: bigint; next: bigint | undefined }[]> {
  const known = await loadRepairedGaps(dir);
  const added: { after: bigint; next: bigint }[] = [];
  const removed: { after: bigint; next: bigint | undefined }[] = [];
  const gap = (after: bigint, next: bigint) => {
    if (known.get(after) === next) return;
    added.push({ after, next });
    removed.push({ after, next });
  };
  let previous: bigint | undefined;
  for (const scan of scans) {
    const { first } = scan.report;
    if (previous !== undefined && previous + 1n !== first) gap(previous, first);
    let cursor = first - 1n;
    for (const record of scan.kept) {
      if (record.sequence !== cursor + 1n) gap(cursor, record.sequence);
      cursor = record.sequence;
    }
    previous = cursor;
  }
  // Damage at the very end: what it held is gone, with no record after it to bound it.
  const lastScan = scans.at(-1);
  if (lastScan?.endedInDamage && !lastScan.report.damage.at(-1)!.unfinished)
    removed.push({ after: previous ?? 0n, next: undefined });
  if (added.length > 0) {
    const file = path.join(dir, REPAIRS_FILE);
    const handle = await open(file, "a");
    try {
      const at = new Date().toISOString();
      await handle.writeFile(
        added
          .map((g) => `${JSON.stringify({ after: g.after.toString(), next: g.next.toString(), repaired_at: at })}\n`)
          .join(""),
      );
      await handle.sync();
    } finally {
      await handle.close();
    }
    await syncPath(dir);
  }
  return removed;
}
