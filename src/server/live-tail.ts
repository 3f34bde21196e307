/**
 * LiveTail: one reader of the newest records, shared by every Subscribe that
 * has caught up with the log. Each new record is read and decoded once and
 * then offered to each of them; before, every subscriber read and decoded
 * every record itself, so 100 subscribers paid 100 reads of each record
 * (BENCHMARKS.md, "Tailing"). A subscriber that is replaying, or whose stream
 * is full, reads on its own cursor (the log is its buffer, so a slow consumer
 * never holds the others back) and joins again once it has caught up.
 */
import { LogEntry } from "../../gen/sessionevents/log/v1/log_entry.js";
import type { EventLog, LogFollower, LogRecord } from "../store/event-log.js";
import { followLog } from "../store/follow.js";

/**
 * How far back the tail keeps what it offered, decoded, for readers just
 * behind it (bounded in positions and bytes): about 1.6 s at 10,000 events/s.
 * A subscriber whose stream filled during a stall of the consumer (a GC, a
 * busy machine) catches up from here, filtering what is decoded already; on
 * its own cursor it would read and decode every record again, and a hundred
 * subscribers doing so at once after a common stall do not catch up.
 */
const RECENT_POSITIONS = 16_384;
const RECENT_BYTES = 16 << 20;

/** A record with its decoded entry. */
export interface TailRecord {
  readonly record: LogRecord;
  readonly entry: LogEntry;
}

/**
 * A subscriber as the tail sees it. The tail offers one position at a time:
 * every record at it (on an engine where an atomic group is one position,
 * JetStream, an event and what it caused share it), so a reader never stops
 * in the middle of a position.
 */
export interface TailReader {
  /** The next position it wants: positions before it are not offered. */
  readonly next: bigint;
  /**
   * Take the records of one position (the reader moves its `next` past it).
   * False when it cannot take more now: it is then detached, these taken.
   */
  offer(records: readonly TailRecord[]): boolean;
  /** The tail stopped on an error of the log: the reader is detached and handles it. */
  failed(error: Error): void;
}

export class LiveTail {
  private readonly readers = new Set<TailReader>();
  /** Subscribers that may attach again (retain()). */
  private retained = 0;
  private follower: LogFollower | undefined;
  /** The sequence of the next record the tail offers. */
  private next = 0n;
  private wake: (() => void) | undefined;
  /** The positions offered last, oldest first: what a reader just behind the tail is served from. */
  private readonly recent = new PositionRing(RECENT_POSITIONS, RECENT_BYTES);
  private stopListening: (() => void) | undefined;
  /** Records read by the tail: each new record once, however many readers. */
  readonly stats = { recordsRead: 0 };

  constructor(private readonly log: EventLog) {}

  /** Readers attached now. */
  get size(): number {
    return this.readers.size;
  }

  /**
   * Join from `reader.next`. False when the tail has already offered records
   * the reader still wants: it reads on its own up to the end, then tries again.
   * `cursor`, the reader's own cursor at `reader.next`, becomes the tail's
   * when the tail is not reading (so joining costs no seek).
   */
  attach(reader: TailReader, cursor?: LogFollower): boolean {
    if (this.follower === undefined)
      this.start(cursor?.position === reader.next ? cursor : followLog(this.log, reader.next));
    else if (reader.next < this.next && !this.replayRecent(reader)) return false;
    this.readers.add(reader);
    return true;
  }

  /** Whether a reader at `next` can join now, catching up from what the tail keeps (no reading of its own). */
  holds(next: bigint): boolean {
    return this.follower !== undefined && (next >= this.next || this.recent.from(next) !== undefined);
  }

  /**
   * Offer a reader that is a few records behind the tail what it missed, from
   * the records the tail offered last (under a steady load the tail is nearly
   * always a record or two ahead of a reader that has just caught up: without
   * these it would never join). False when they do not reach back far enough,
   * or the reader fills up on them.
   */
  private replayRecent(reader: TailReader): boolean {
    const from = this.recent.from(reader.next);
    if (from === undefined) return false;
    for (let i = from; i < this.recent.length; i++) if (!reader.offer(this.recent.at(i))) return false;
    return true;
  }

  /** Offer one position's records to every reader that wants it (synchronously: no reader joins or leaves meanwhile). */
  private offer(position: readonly TailRecord[]): void {
    const sequence = position[0]!.record.sequence;
    for (const reader of this.readers) {
      if (sequence >= reader.next && !reader.offer(position)) this.readers.delete(reader);
    }
    this.next = sequence + 1n;
    this.recent.push(position);
  }

  detach(reader: TailReader): void {
    this.readers.delete(reader);
    if (this.idle) this.stop();
  }

  /**
   * A subscriber that may come back (it left full, and catches up once its
   * consumer reads) keeps the tail and what it keeps alive: when a stall of
   * theirs fills every subscriber at once, the tail must not stop and forget
   * the records they all still need. Returns the release, for when it ends.
   */
  retain(): () => void {
    this.retained++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.retained--;
      if (this.idle) this.stop();
    };
  }

  /** No reader attached and none that may come back: reading on would be for nobody. */
  private get idle(): boolean {
    return this.readers.size === 0 && this.retained === 0;
  }

  private start(follower: LogFollower): void {
    this.follower = follower;
    this.next = follower.position;
    this.stopListening = this.log.subscribe(() => this.wake?.());
    void this.run(follower);
  }

  private stop(): void {
    this.follower = undefined;
    this.recent.clear();
    this.stopListening?.();
    this.stopListening = undefined;
    this.wake?.();
  }

  private async run(follower: LogFollower): Promise<void> {
    try {
      while (this.follower === follower) {
        let position: TailRecord[] = [];
        for await (const record of follower.records()) {
          if (this.follower !== follower) return;
          this.stats.recordsRead++;
          // A position is complete once the next one starts, or the durable records end (a group is durable whole).
          if (position.length > 0 && position[0]!.record.sequence !== record.sequence) {
            this.offer(position);
            position = [];
            if (this.idle) return this.stop();
          }
          position.push({ record, entry: LogEntry.decode(record.payload) });
        }
        if (position.length > 0) this.offer(position);
        if (this.idle) return this.stop();
        // Caught up: wait for the log to grow (checked after arming, so no append is missed).
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          if (this.follower !== follower || this.log.lastSequence >= follower.position) resolve();
        });
        this.wake = undefined;
      }
    } catch (e) {
      if (this.follower !== follower) return;
      const readers = [...this.readers];
      this.readers.clear();
      this.stop();
      for (const reader of readers) reader.failed(e as Error);
    }
  }
}

/** The last positions offered, oldest first, in a ring (dropping the oldest costs no copy), bounded in count and bytes. */
class PositionRing {
  private items: (readonly TailRecord[])[] = [];
  private first = 0;
  length = 0;
  private bytes = 0;

  constructor(
    private readonly maxPositions: number,
    private readonly maxBytes: number,
  ) {}

  /** The i-th oldest position held. */
  at(i: number): readonly TailRecord[] {
    return this.items[(this.first + i) % this.maxPositions]!;
  }

  push(position: readonly TailRecord[]): void {
    if (this.length === this.maxPositions) this.dropOldest();
    this.items[(this.first + this.length) % this.maxPositions] = position;
    this.length++;
    this.bytes += bytesOf(position);
    while (this.bytes > this.maxBytes && this.length > 1) this.dropOldest();
  }

  /** Index of the oldest position at or after `sequence`; undefined when older ones it needs are gone. */
  from(sequence: bigint): number | undefined {
    if (this.length === 0 || sequence < this.at(0)[0]!.record.sequence) return undefined;
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.at(mid)[0]!.record.sequence < sequence) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  clear(): void {
    this.items = [];
    this.first = 0;
    this.length = 0;
    this.bytes = 0;
  }

  private dropOldest(): void {
    this.bytes -= bytesOf(this.at(0));
    this.items[this.first] = undefined as never;
    this.first = (this.first + 1) % this.maxPositions;
    this.length--;
  }
}

const bytesOf = (position: readonly TailRecord[]) =>
  position.reduce((n, { record }) => n + record.payload.byteLength, 0);
