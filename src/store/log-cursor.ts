/**
 * A reader that follows the log from where it stopped: it remembers the
 * segment and the byte offset after the last frame it read, and each call
 * reads only the bytes made durable since (DESIGN.md, storage rule 7). So
 * handing a subscriber one new record costs one frame, however many records
 * the segment holds; `read(from)` instead seeks with a sparse index and
 * scans up to 256 KiB each time.
 *
 * It reads with the one frame reader (segmentFrames -> readFrames), over
 * durable bytes only: a crash tail can never be in its range, and any
 * damage is an error. What was made durable last it takes from the log's
 * memory of it (recent-frames.ts), not from the file.
 */
import { LogCorruptionError, LogOutOfRangeError } from "./errors.js";
import type { LogFollower, LogRecord } from "./event-log.js";
import { SEGMENT_HEADER_BYTES } from "./frame.js";
import type { HeldFrame, RecentFrames } from "./recent-frames.js";
import { segmentFrames } from "./segment-file.js";

/** A segment as the log holds it (segment-log.ts): `size` grows only once its bytes are durable. */
export interface HeldSegment {
  readonly file: string;
  readonly first: bigint;
  /** Durable bytes in the file. */
  readonly size: number;
  /** Sparse (sequence, offset) of group starts, ascending. */
  readonly index: readonly { sequence: bigint; offset: number }[];
}

/** What a cursor needs of the log: the segments held now, oldest first (the last one is the active one). */
export interface CursorSource {
  readonly segments: readonly HeldSegment[];
  readonly repairedGap: (last: bigint) => bigint | undefined;
  /** The log's own counter of frames read, which the cursor adds to. */
  readonly stats: { framesRead: number };
  /** The frames made durable last, kept in memory. */
  readonly recent?: RecentFrames;
}

/** Follows a SegmentLog from a (segment, byte offset): each call reads only frames made durable since the last. */
export class SegmentCursor implements LogFollower {
  private segment: HeldSegment;
  /** Byte offset in `segment` of the next frame to read. */
  private offset: number;
  /** The sequence the frame at `offset` must carry (undefined: the segment's first). */
  private expected: bigint | undefined;
  private next: bigint;
  private reading = false;
  /** Frames this cursor read, skipped ones included. */
  readonly stats = { framesRead: 0 };

  constructor(
    private readonly source: CursorSource,
    fromSequence: bigint,
  ) {
    const segments = source.segments;
    const first = segments[0]?.first ?? 1n;
    if (fromSequence < first) throw new LogOutOfRangeError(fromSequence, first);
    this.next = fromSequence;
    this.segment = segments[holding(segments, fromSequence)]!;
    const entry = floorEntry(this.segment.index, fromSequence);
    this.offset = entry?.offset ?? SEGMENT_HEADER_BYTES;
    this.expected = entry?.sequence;
  }

  get position(): bigint {
    return this.next;
  }

  async *records(): AsyncGenerator<LogRecord> {
    if (this.reading) throw new Error("LogCursor.records: one iteration at a time");
    this.reading = true;
    try {
      while (true) {
        const segment = this.segment;
        if (this.offset < segment.size) {
          const held = this.source.recent?.range(segment.file, this.offset, segment.size);
          yield* held ? this.fromMemory(held) : this.readSegment(segment, segment.size);
        }
        // At the end of its durable bytes. A later segment means this one is closed, and its size final.
        const following = this.source.segments.find((s) => s.first > segment.first);
        if (following === undefined) return; // the active segment: call again once the log grows
        if (this.offset < segment.size) continue; // it grew while we read
        this.enter(following);
      }
    } finally {
      this.reading = false;
    }
  }

  private *fromMemory(frames: readonly HeldFrame[]): Generator<LogRecord> {
    for (const frame of frames) {
      this.took(frame);
      if (frame.sequence >= this.next) {
        this.next = frame.sequence + 1n;
        yield { sequence: frame.sequence, payload: frame.payload };
      }
    }
  }

  /** A frame read (from the file or from memory): the cursor moves past it. */
  private took(frame: { sequence: bigint; offset: number; size: number }): void {
    this.stats.framesRead++;
    this.source.stats.framesRead++;
    this.offset = frame.offset + frame.size;
    this.expected = frame.sequence + 1n;
  }

  private async *readSegment(segment: HeldSegment, size: number): AsyncGenerator<LogRecord> {
    const reader = segmentFrames(segment, size, {
      repairedGap: this.source.repairedGap,
      start: this.offset,
      firstSequence: this.expected,
    });
    try {
      for await (const item of reader) {
        if (item.kind === "damage") throw new LogCorruptionError(segment.file, item.offset, item.rule, item.message);
        this.took(item);
        if (item.sequence < this.next) continue; // before the position asked for (a seek lands on an indexed group start)
        this.next = item.sequence + 1n;
        yield { sequence: item.sequence, payload: item.payload };
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") throw this.outOfRange(); // retention removed it
      throw e;
    }
  }

  /** Move to the segment after the current one, which must continue its sequence. */
  private enter(following: HeldSegment): void {
    const expected = this.expected ?? this.segment.first;
    const continues = following.first === expected || this.source.repairedGap(expected - 1n) === following.first;
    if (!continues) {
      if (this.source.segments[0] === following) throw this.outOfRange(); // what lay between was removed
      throw new LogCorruptionError(
        following.file,
        0,
        "missing_segment",
        `starts at ${following.first}, expected ${expected}`,
      );
    }
    this.segment = following;
    this.offset = SEGMENT_HEADER_BYTES;
    this.expected = undefined;
  }

  private outOfRange(): LogOutOfRangeError {
    return new LogOutOfRangeError(this.next, this.source.segments[0]?.first ?? this.next);
  }
}

/** Index of the segment holding `sequence`: the last one starting at or before it (the first when none does). */
export function holding(segments: readonly { first: bigint }[], sequence: bigint): number {
  let lo = 0;
  let hi = segments.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (segments[mid]!.first <= sequence) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The last index entry at or before `sequence`. */
export function floorEntry(
  index: readonly { sequence: bigint; offset: number }[],
  sequence: bigint,
): { sequence: bigint; offset: number } | undefined {
  let lo = 0;
  let hi = index.length - 1;
  let found: { sequence: bigint; offset: number } | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (index[mid]!.sequence <= sequence) {
      found = index[mid];
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}
