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

/** How far back the tail keeps what it offered, for readers just behind it (bounded in positions and bytes). */
const RECENT_POSITIONS = 1024;
const RECENT_BYTES = 4 << 20;

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
  private follower: LogFollower | undefined;
  /** The sequence of the next record the tail offers. */
  private next = 0n;
  private wake: (() => void) | undefined;
  /** The positions offered last, oldest first: what a reader just behind the tail is served from. */
  private recent: (readonly TailRecord[])[] = [];
  private recentBytes = 0;
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

  /**
   * Offer a reader that is a few records behind the tail what it missed, from
   * the records the tail offered last (under a steady load the tail is nearly
   * always a record or two ahead of a reader that has just caught up: without
   * these it would never join). False when they do not reach back far enough,
   * or the reader fills up on them.
   */
  private replayRecent(reader: TailReader): boolean {
    const oldest = this.recent[0]?.[0]?.record.sequence;
    if (oldest === undefined || reader.next < oldest) return false;
    for (const position of this.recent) {
      if (position[0]!.record.sequence >= reader.next && !reader.offer(position)) return false;
    }
    return true;
  }

  private remember(position: readonly TailRecord[]): void {
    this.recent.push(position);
    for (const { record } of position) this.recentBytes += record.payload.byteLength;
    while (this.recent.length > RECENT_POSITIONS || this.recentBytes > RECENT_BYTES) {
      for (const { record } of this.recent.shift()!) this.recentBytes -= record.payload.byteLength;
    }
  }

  /** Offer one position's records to every reader that wants it (synchronously: no reader joins or leaves meanwhile). */
  private offer(position: readonly TailRecord[]): void {
    const sequence = position[0]!.record.sequence;
    for (const reader of this.readers) {
      if (sequence >= reader.next && !reader.offer(position)) this.readers.delete(reader);
    }
    this.next = sequence + 1n;
    this.remember(position);
  }

  detach(reader: TailReader): void {
    this.readers.delete(reader);
    if (this.readers.size === 0) this.stop();
  }

  private start(follower: LogFollower): void {
    this.follower = follower;
    this.next = follower.position;
    this.stopListening = this.log.subscribe(() => this.wake?.());
    void this.run(follower);
  }

  private stop(): void {
    this.follower = undefined;
    this.recent = [];
    this.recentBytes = 0;
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
            if (this.readers.size === 0) return this.stop();
          }
          position.push({ record, entry: LogEntry.decode(record.payload) });
        }
        if (position.length > 0) this.offer(position);
        if (this.readers.size === 0) return this.stop();
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
