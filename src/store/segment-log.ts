/**
 * SegmentLog: the embedded, durable EventLog. Records are framed (frame.ts)
 * and appended to segment files in a data directory, named by the sequence of
 * their first record (`00000000000000000001.seg`).
 *
 * Durability: an append resolves only after its bytes are written and
 * durable (the segment is opened O_DSYNC: the write is its own fdatasync).
 * Group commit: appends made in one turn of the event loop, and those that
 * arrive while a write is running, share the next write, through the
 * thread pool; with writeLoneBatchesOnLoop (the collector), a lone append is
 * written on the event loop instead (writeOnLoop). An atomic group
 * (appendGroup) is written in one batch and framed so that recovery keeps
 * all of it or none.
 *
 * Recovery (open): the last segment is read with the one frame reader
 * (frame-reader.ts). Only what a crash mid-write leaves, at the end of the
 * last segment, is cut (frame.ts, crashTailReason); any other damage refuses
 * to open, naming segment, offset and rule. `log repair` moves it aside.
 * A closed segment is not read when its sealed index (segment-index.ts,
 * written when the log rolled past it) matches it: open then costs the same
 * whatever the history. Its records' checksums are checked when they are
 * read, and by `log verify`. Without a matching index it is scanned as the
 * last one is, and the index written.
 *
 * Retention (removeSegmentsBefore): closed segments are removed oldest
 * first, so what is left is always a suffix of the log; its first segment
 * may start after 1. A read from before it fails with LogOutOfRangeError.
 */
import { mkdir, open, unlink, type FileHandle } from "node:fs/promises";
import { constants, writevSync } from "node:fs";
import path from "node:path";
import type { EventLog, GroupAt, LogRecord } from "./event-log.js";
import { LogClosedError, LogCorruptionError, LogFailedError, LogOutOfRangeError } from "./errors.js";
import { acquireLock, releaseLock } from "./lock.js";
import { HEADER_BYTES, SEGMENT_HEADER_BYTES, encodeFrame } from "./frame.js";
import { syncPath } from "./fsync.js";
import { SegmentCursor, floorEntry, holding, type CursorSource } from "./log-cursor.js";
import { RecentFrames, type HeldFrame } from "./recent-frames.js";
import { checkSegmentHeader, createSegment, listSegments, loadRepairedGaps, segmentFrames } from "./segment-file.js";
import { readSegmentIndex, removeOrphanIndexes, removeSegmentIndex, writeSegmentIndex } from "./segment-index.js";

/**
 * The active segment is opened with O_DSYNC: a write returns once its data
 * is durable, as a write then fdatasync would, but in one system call, so a
 * write through the thread pool makes one trip there instead of two, and a
 * write on the event loop (writeOnLoop) is one system call.
 */
const APPEND_DURABLY = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_DSYNC;

/** The bounds on a write made on the event loop (writeOnLoop). */
export const INLINE_WRITE = {
  /**
   * Only while the log's writes are quick as a rule: a moving average of
   * their durations (each write weighs `averageWeight`) under this. A disk that turns
   * slow sends every write through the pool within a few writes. A lone slow
   * write does not: one machine's disk takes 2 ms or more for 2% of its
   * writes, and reacting to each would keep the loop's writes off for good.
   * Another's answers a lone append in 0.8–1.7 ms as a rule: under 1 ms, its
   * writes all went through the pool, at 0.5 ms more a call (BENCHMARKS.md).
   */
  typicalMs: 2,
  /** The weight of the latest write in that moving average (nextTypicalWriteMs). */
  averageWeight: 1 / 8,
  /** A larger batch (a max-size event) always goes through the pool: its write alone would hold the loop for milliseconds. */
  maxBytes: 64 * 1024,
} as const;

/**
 * Whether a batch is written on the event loop (a synchronous write) rather
 * than through libuv's thread pool. The pool's trip (wake a worker, then
 * wake the loop) costs about as much as the write itself when appends come
 * one at a time: at one call in flight it was 70 µs of a 290 µs append, and
 * the woken threads took CPU from the rest (BENCHMARKS.md, "Collector").
 * So a batch of one append group, gathered over a turn of the loop with
 * nothing else waiting, is written on the loop while writes are quick as a
 * rule. Everything else goes through the pool, so that the loop goes on
 * reading requests (the next group commit) while the disk works.
 */
export function writeOnLoop(batch: { groups: number; bytes: number; first: boolean; typicalWriteMs: number }): boolean {
  return (
    batch.first &&
    batch.groups === 1 &&
    batch.bytes <= INLINE_WRITE.maxBytes &&
    batch.typicalWriteMs < INLINE_WRITE.typicalMs
  );
}

/** The moving average writeOnLoop reads, after one more durable write that took `seconds`. */
export function nextTypicalWriteMs(typicalMs: number, seconds: number): number {
  return typicalMs + (seconds * 1000 - typicalMs) * INLINE_WRITE.averageWeight;
}

export { LogClosedError, LogCorruptionError, LogFailedError, LogLockedError, LogOutOfRangeError } from "./errors.js";
export { listSegments, type SegmentFile } from "./segment-file.js";

/** Where the log lives and how it behaves. */
export interface SegmentLogOptions {
  /** Directory holding the segments; created if missing. */
  readonly dir: string;
  /** Start a new segment once the active one reaches this size. Default 64 MiB. */
  readonly segmentBytes?: number;
  /** Told about each crash tail that recovery cut off. */
  readonly onDamage?: (report: DamageReport) => void;
  /** Told once if a write or fsync fails: the log then refuses appends until reopened. */
  readonly onFailure?: (error: Error) => void;
  /**
   * Write a lone small batch on the event loop rather than through the
   * thread pool (writeOnLoop): quicker when appends come one at a time, but
   * the loop waits for the disk meanwhile. For a process whose event loop is
   * the log's own (the collector). Off by default, so that an application
   * embedding the log (the emitter's spool) never has its loop wait for a disk.
   */
  readonly writeLoneBatchesOnLoop?: boolean;
  /** Told after each durable batch (metrics): its records, its bytes, and how long its durable (O_DSYNC) write took. */
  readonly onSync?: (sync: SyncReport) => void;
  /**
   * Read only: no lock, nothing cut, no appends. For reading a log another
   * process writes (its durable part; a crash tail is reported, not cut).
   */
  readonly readOnly?: boolean;
}

/** One group commit, for observers (metrics): records and bytes made durable by one O_DSYNC write, and how long it took. */
export interface SyncReport {
  readonly records: number;
  readonly bytes: number;
  readonly seconds: number;
  /** Written on the event loop (writeOnLoop), which waited for it, rather than through the thread pool. */
  readonly onLoop: boolean;
}

/** What recovery cut from a crash tail. */
export interface DamageReport {
  readonly segment: string;
  readonly offset: number;
  readonly reason: string;
  /** Bytes removed from the end of the segment. */
  readonly bytesCut: number;
}

/** Every this many bytes of a segment, remember where a record starts, so reads seek instead of scanning. */
const INDEX_EVERY_BYTES = 256 * 1024;

interface Segment {
  readonly file: string;
  readonly first: bigint;
  /** Durable bytes in the file. */
  size: number;
  /** Sparse (sequence, offset) of group starts, ascending: where a read from a sequence can begin. */
  readonly index: { sequence: bigint; offset: number }[];
}

interface Pending {
  /** One atomic group: its frames, consecutive sequences from `first`. */
  readonly first: bigint;
  readonly frames: Buffer[];
  readonly bytes: number;
  readonly resolve: (sequence: bigint) => void;
  readonly reject: (error: Error) => void;
}

/** The embedded durable event log: segment files of checksummed frames, group-committed with fsync, recovered on open (a crash tail cut, any other damage refused). */
export class SegmentLog implements EventLog {
  private readonly segments: Segment[];
  /** The segment appends go to (none when read-only). */
  private active: FileHandle | undefined;
  private next: bigint;
  private durableSequence: bigint;
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private failed: Error | undefined;
  private closed = false;
  private readonly listeners = new Set<(record: LogRecord) => void>();
  /** The frames made durable last, for cursors at the head of the log. */
  private readonly recent = new RecentFrames();
  /**
   * Counters for observability and tests: appends, the fsyncs they shared
   * (and how many of those were written on the event loop), frames read by
   * reads; at open, frames scanned and closed segments taken from their
   * sealed index instead.
   */
  readonly stats = {
    appends: 0,
    syncs: 0,
    /** Of the syncs, the writes made on the event loop (writeOnLoop). */
    syncsOnLoop: 0,
    framesRead: 0,
    openFramesScanned: 0,
    openSealedIndexes: 0,
  };
  /** A moving average of the durable writes' durations, in ms (writeOnLoop). */
  private typicalWriteMs = 0;
  /** The sealed indexes being written for the segments the log rolled past, one after another (close waits for them). */
  private sealing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly options: {
      dir: string;
      segmentBytes: number;
      onFailure?: (error: Error) => void;
      onSync?: (sync: SyncReport) => void;
      writeLoneBatchesOnLoop: boolean;
      lock: string | undefined;
      gaps: Map<bigint, bigint>;
    },
    segments: Segment[],
    active: FileHandle | undefined,
    lastSequence: bigint,
    opened: { framesScanned: number; sealedIndexes: number },
  ) {
    this.stats.openFramesScanned = opened.framesScanned;
    this.stats.openSealedIndexes = opened.sealedIndexes;
    this.segments = segments;
    this.active = active;
    this.durableSequence = lastSequence;
    this.next = lastSequence + 1n;
  }

  static async open(options: SegmentLogOptions): Promise<SegmentLog> {
    const dir = path.resolve(options.dir);
    const segmentBytes = options.segmentBytes ?? 64 * 1024 * 1024;
    await mkdir(dir, { recursive: true });
    const lock = options.readOnly ? undefined : await acquireLock(dir);
    try {
      return await SegmentLog.recover(dir, segmentBytes, options, lock);
    } catch (e) {
      if (lock) await releaseLock(lock);
      throw e;
    }
  }

  private static async recover(
    dir: string,
    segmentBytes: number,
    options: SegmentLogOptions,
    lock: string | undefined,
  ): Promise<SegmentLog> {
    const listed = await listSegments(dir);
    const gaps = await loadRepairedGaps(dir);
    const repairedGap = (last: bigint) => gaps.get(last);
    const segments: Segment[] = [];
    const opened = { framesScanned: 0, sealedIndexes: 0 };
    let last = 0n;
    if (!options.readOnly)
      await removeOrphanIndexes(
        dir,
        listed.map((s) => s.file),
      );
    for (const [i, listing] of listed.entries()) {
      const isLast = i === listed.length - 1;
      if (last !== 0n && listing.first !== last + 1n && repairedGap(last) !== listing.first) {
        throw new LogCorruptionError(
          listing.file,
          0,
          "missing_segment",
          `starts at ${listing.first}, expected ${last + 1n} (a segment is missing)`,
        );
      }
      const header = await checkSegmentHeader(listing, isLast);
      if (header.kind === "unfinished") {
        // A crash while creating it: it holds nothing. Write its header again.
        if (!options.readOnly) await createSegment(dir, listing.first);
        last = listing.first - 1n; // it may be the only segment left after retention
        segments.push({ file: listing.file, first: listing.first, size: SEGMENT_HEADER_BYTES, index: [] });
        continue;
      }
      const sealed = isLast ? undefined : await readSegmentIndex(listing);
      if (sealed) {
        opened.sealedIndexes++;
        last = sealed.last;
        segments.push({ file: listing.file, first: listing.first, size: listing.size, index: [...sealed.index] });
        continue;
      }
      const segment: Segment = { file: listing.file, first: listing.first, size: listing.size, index: [] };
      const reader = segmentFrames(segment, listing.size, { repairedGap });
      let lastIndexed = -Infinity;
      let step = await reader.next();
      for (; !step.done; step = await reader.next()) {
        const item = step.value;
        if (item.kind === "record") {
          opened.framesScanned++;
          if (item.offset - lastIndexed >= INDEX_EVERY_BYTES) {
            segment.index.push({ sequence: item.sequence, offset: item.offset });
            lastIndexed = item.offset;
          }
          continue;
        }
        if (!item.crashTail || !isLast) {
          await reader.return(undefined as never); // close the segment file: a refused open must not leak it
          throw new LogCorruptionError(
            segment.file,
            item.offset,
            item.rule,
            `${item.message} (run \`session-events log verify ${dir}\` for a report, \`log repair\` to move it aside)`,
          );
        }
        if (!options.readOnly) await cutTail(segment.file, item.offset);
        options.onDamage?.({
          segment: segment.file,
          offset: item.offset,
          reason: item.message,
          bytesCut: options.readOnly ? 0 : listing.size - item.offset,
        });
      }
      segment.size = step.value.goodBytes;
      if (step.value.last !== undefined) last = step.value.last;
      segments.push(segment);
      // A closed segment scanned (an older log, a lost index): seal it now so the next open need not.
      if (!isLast && !options.readOnly) await sealQuietly(segment, last);
    }
    if (segments.length === 0 && !options.readOnly) segments.push({ ...(await createSegment(dir, 1n)), index: [] });
    const active = options.readOnly ? undefined : await open(segments.at(-1)!.file, APPEND_DURABLY);
    return new SegmentLog(
      {
        dir,
        segmentBytes,
        onFailure: options.onFailure,
        onSync: options.onSync,
        writeLoneBatchesOnLoop: options.writeLoneBatchesOnLoop ?? false,
        lock,
        gaps,
      },
      segments,
      active,
      last,
      opened,
    );
  }

  get lastSequence(): bigint {
    return this.durableSequence;
  }

  /** The sequence the next append gets (this process is the only writer: `log upgrade` checks with it). */
  get nextSequence(): bigint {
    return this.next;
  }

  /**
   * The oldest sequence the log still holds (1 until retention removes a
   * segment). When the log holds no record yet, the sequence the next append gets.
   */
  get firstSequence(): bigint {
    return this.segments[0]?.first ?? 1n;
  }

  get failure(): Error | undefined {
    return this.failed;
  }

  append(payload: Uint8Array): Promise<bigint> {
    return this.appendGroup([payload]);
  }

  appendGroup(group: readonly Uint8Array[] | GroupAt): Promise<bigint> {
    if (this.closed) return Promise.reject(new LogClosedError("the log is closed"));
    if (!this.active) return Promise.reject(new LogClosedError("the log is open read-only"));
    if (this.failed) return Promise.reject(this.failed);
    const payloads = typeof group === "function" ? group(this.next) : group; // one writer: the position is known now
    if (payloads.length === 0) return Promise.reject(new RangeError("appendGroup: a group has at least one record"));
    const first = this.next;
    const frames = payloads.map((payload, i) => encodeFrame(first + BigInt(i), payload, i < payloads.length - 1));
    this.next += BigInt(payloads.length);
    this.stats.appends += payloads.length;
    return new Promise((resolve, reject) => {
      this.queue.push({ first, frames, bytes: frames.reduce((n, f) => n + f.length, 0), resolve, reject });
      this.flushing ??= this.flushLoop();
    });
  }

  private async flushLoop(): Promise<void> {
    try {
      // One turn of the event loop first: the appends of requests read in the same turn share the write.
      await new Promise((resolve) => setImmediate(resolve));
      for (let first = true; this.queue.length > 0; first = false) {
        const batch = this.queue;
        this.queue = [];
        let durable: readonly HeldFrame[];
        try {
          await this.rollIfFull();
          const segment = this.segments.at(-1)!;
          const bytes = batch.reduce((n, p) => n + p.bytes, 0);
          const frames = batch.flatMap((p) => p.frames);
          const writeStarted = process.hrtime.bigint();
          const onLoop =
            this.options.writeLoneBatchesOnLoop &&
            writeOnLoop({ groups: batch.length, bytes, first, typicalWriteMs: this.typicalWriteMs });
          const bytesWritten = onLoop
            ? writevSync(this.active!.fd, frames)
            : (await this.active!.writev(frames)).bytesWritten;
          // A short write may be resumed; resuming also names its cause (ENOSPC: the disk is full).
          if (bytesWritten !== bytes) await this.writeRest(Buffer.concat(frames).subarray(bytesWritten), bytes);
          this.stats.syncs++; // the writes were durable when they returned (APPEND_DURABLY)
          if (onLoop) this.stats.syncsOnLoop++;
          const seconds = Number(process.hrtime.bigint() - writeStarted) / 1e9;
          this.typicalWriteMs = nextTypicalWriteMs(this.typicalWriteMs, seconds);
          reportSync(this.options.onSync, {
            records: batch.reduce((n, p) => n + p.frames.length, 0),
            bytes,
            seconds,
            onLoop,
          });
          this.indexBatch(segment, batch);
          durable = this.remember(segment, batch);
          segment.size += bytes;
          const lastGroup = batch.at(-1)!;
          this.durableSequence = lastGroup.first + BigInt(lastGroup.frames.length) - 1n;
        } catch (e) {
          // The file's tail is now unknown: refuse everything until a reopen,
          // whose recovery cuts what was not completely written.
          this.failed = new LogFailedError(`event log write failed, log stopped: ${(e as Error).message}`);
          for (const p of [...batch, ...this.queue]) p.reject(this.failed);
          this.queue = [];
          this.options.onFailure?.(this.failed);
          return;
        }
        for (const p of batch) p.resolve(p.first);
        this.notify(durable);
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async writeRest(rest: Buffer, bytes: number): Promise<void> {
    const { bytesWritten } = await this.active!.write(rest);
    if (bytesWritten !== rest.length)
      throw new Error(`short write: ${bytes - rest.length + bytesWritten} of ${bytes} bytes`);
  }

  private indexBatch(segment: Segment, batch: readonly Pending[]): void {
    let offset = segment.size;
    for (const p of batch) {
      const lastIndexed = segment.index.at(-1)?.offset ?? -Infinity;
      if (offset - lastIndexed >= INDEX_EVERY_BYTES) segment.index.push({ sequence: p.first, offset });
      offset += p.bytes;
    }
  }

  /** The batch's frames, now durable: kept for cursors at the head of the log (recent-frames.ts). */
  private remember(segment: Segment, batch: readonly Pending[]): HeldFrame[] {
    const held: HeldFrame[] = [];
    let offset = segment.size;
    for (const p of batch) {
      for (const [i, frame] of p.frames.entries()) {
        const record = {
          sequence: p.first + BigInt(i),
          payload: frame.subarray(HEADER_BYTES),
          offset,
          size: frame.length,
        };
        this.recent.add(segment.file, record);
        held.push(record);
        offset += frame.length;
      }
    }
    return held;
  }

  private notify(records: readonly LogRecord[]): void {
    if (this.listeners.size === 0) return;
    for (const record of records) {
      for (const listener of this.listeners) {
        try {
          listener(record);
        } catch {
          // A listener's failure is its own; the log goes on.
        }
      }
    }
  }

  private async rollIfFull(): Promise<void> {
    if (this.segments.at(-1)!.size < this.options.segmentBytes) return;
    const next = await createSegment(this.options.dir, this.durableSequence + 1n);
    await this.active!.close();
    this.active = await open(next.file, APPEND_DURABLY);
    const closed = this.segments.at(-1)!;
    this.segments.push({ ...next, index: [] });
    // Off the append path: appends need not wait for the index's fsyncs.
    const last = this.durableSequence;
    // One retention removed meanwhile is not sealed; one removed while its index is written leaves an orphan index, removed at the next open.
    this.sealing = this.sealing.then(() => (this.segments.includes(closed) ? sealQuietly(closed, last) : undefined));
  }

  /**
   * Remove the closed segments whose records all come before `sequence`,
   * oldest first (so a crash midway leaves a suffix of the log), never the
   * active one; then fsync the directory. Resolves with the removed files'
   * names. Reads already inside a removed segment finish it (the file stays
   * open); a read that reaches it afterwards fails with LogOutOfRangeError.
   */
  removeSegmentsBefore(sequence: bigint): Promise<string[]> {
    // One removal at a time: two at once would both take the oldest segment.
    const removal = this.removing.then(() => this.removeNow(sequence));
    this.removing = removal.catch(() => undefined);
    return removal;
  }

  private removing: Promise<unknown> = Promise.resolve();

  private async removeNow(sequence: bigint): Promise<string[]> {
    if (this.closed) throw new LogClosedError("the log is closed");
    if (!this.active) throw new LogClosedError("the log is open read-only");
    const removed: string[] = [];
    try {
      // A segment is wholly before `sequence` when the next one starts at or before it.
      while (this.segments.length > 1 && this.segments[1]!.first <= sequence) {
        const segment = this.segments[0]!;
        // The index first: a crash between the two leaves a segment to scan, not an orphan index.
        await removeSegmentIndex(segment.file);
        await unlink(segment.file);
        this.segments.shift();
        removed.push(path.basename(segment.file));
      }
    } finally {
      if (removed.length > 0) await syncPath(this.options.dir); // the unlinks, durable
    }
    return removed;
  }

  /** The segments held now, oldest first; the last is the active one (appends go there). */
  segmentsHeld(): { file: string; first: bigint; bytes: number }[] {
    return this.segments.map((s) => ({ file: s.file, first: s.first, bytes: s.size }));
  }

  async *read(fromSequence?: bigint): AsyncIterable<LogRecord> {
    const until = this.durableSequence;
    const first = this.firstSequence;
    const from = fromSequence ?? first; // no position: all that is still held
    if (from < first) throw new LogOutOfRangeError(from, first);
    const repairedGap = (last: bigint) => this.options.gaps.get(last);
    // Segments and sizes are read as they are when each segment is reached: a
    // size only grows once its bytes are durable, and records past `until` end
    // the read. Segments are found by position, not by index: retention may
    // remove older ones meanwhile.
    let next = from;
    while (next <= until) {
      const at = this.segmentHolding(next);
      if (at === undefined) throw new LogOutOfRangeError(next, this.firstSequence);
      const segment = this.segments[at]!;
      // Seek: start at the last indexed group start at or before `next`.
      const entry = floorEntry(segment.index, next);
      const reader = segmentFrames(segment, segment.size, {
        repairedGap,
        start: entry?.offset,
        firstSequence: entry?.sequence,
      });
      try {
        for await (const item of reader) {
          if (item.kind === "damage") throw new LogCorruptionError(segment.file, item.offset, item.rule, item.message);
          this.stats.framesRead++;
          if (item.sequence > until) return;
          if (item.sequence >= next) {
            next = item.sequence + 1n;
            yield { sequence: item.sequence, payload: item.payload };
          }
        }
      } catch (e) {
        // Removed between finding it and opening it.
        if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new LogOutOfRangeError(next, this.firstSequence);
        throw e;
      }
      const following = this.segments.find((s) => s.first > segment.first);
      if (following === undefined) return;
      if (following.first > next && repairedGap(next - 1n) === following.first) next = following.first; // a gap `log repair` left on purpose
      if (this.segmentHolding(next) === undefined) continue; // removed meanwhile: said at the top
      if (this.segments[this.segmentHolding(next)!] === segment)
        throw new LogCorruptionError(
          segment.file,
          segment.size,
          "missing_segment",
          `ends before ${next}, and no segment starts there`,
        );
    }
  }

  /** Index of the segment holding `sequence` (the last one starting at or before it), if still held. */
  private segmentHolding(sequence: bigint): number | undefined {
    if (this.segments.length === 0 || sequence < this.segments[0]!.first) return undefined;
    return holding(this.segments, sequence);
  }

  /**
   * A cursor from `fromSequence`: each `records()` hands out what became
   * durable since the last one, reading only those bytes (log-cursor.ts).
   * Throws LogOutOfRangeError if retention removed `fromSequence`.
   */
  follow(fromSequence: bigint): SegmentCursor {
    if (this.segments.length === 0) throw new LogClosedError("the log holds no segment yet");
    // The live array: the cursor sees roll-overs and removals as they happen.
    const source: CursorSource = {
      segments: this.segments,
      repairedGap: (last) => this.options.gaps.get(last),
      stats: this.stats,
      recent: this.recent,
    };
    return new SegmentCursor(source, fromSequence);
  }

  subscribe(listener: (record: LogRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flushing;
    await this.sealing;
    this.listeners.clear();
    await this.active?.close();
    if (this.options.lock) await releaseLock(this.options.lock);
  }
}

/** An observer's failure is its own: it must never pass for a failed write. */
function reportSync(onSync: ((sync: SyncReport) => void) | undefined, sync: SyncReport): void {
  try {
    onSync?.(sync);
  } catch {
    // ignored, as a subscriber's is
  }
}

/**
 * Write a closed segment's sealed index. A failure (a full disk) costs only
 * speed: the next open scans the segment and tries again.
 */
async function sealQuietly(segment: Segment, last: bigint): Promise<void> {
  try {
    await writeSegmentIndex(segment.file, { size: segment.size, first: segment.first, last, index: segment.index });
  } catch {
    // a cache, not the log: nothing acknowledged depends on it
  }
}

async function cutTail(file: string, size: number): Promise<void> {
  const handle = await open(file, "r+");
  try {
    await handle.truncate(size);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
