/**
 * The durable event log, as the services see it: append records, read them
 * back from a position, follow new ones. The embedded implementation is
 * SegmentLog (files in a data directory); a distributed engine can take its
 * place behind this interface without touching the services.
 */

/** One record of the log: its position and its bytes. */
export interface LogRecord {
  /** Position in the log: 1 for the first record, then +1 each. */
  readonly sequence: bigint;
  readonly payload: Uint8Array;
}

/** A reader that resumes where it stopped (EventLog.follow). */
export interface LogFollower {
  /** The sequence of the next record it hands out. */
  readonly position: bigint;
  /**
   * The records durable now, from `position` on; it ends at the end of the
   * log as of now. Call again once the log grows (one iteration at a time).
   */
  records(): AsyncIterable<LogRecord>;
}

/**
 * A group whose records name its position (a VRP event's outcomes name their
 * cause's sequence): the log calls it with the sequence the group's first
 * record gets, once that is decided. No caller can learn a position before
 * the log decides it (a shared log decides it only when the write is
 * ordered), so positions come from the append, never from a guess. The
 * embedded log calls it synchronously, inside appendGroup.
 */
export type GroupAt = (first: bigint) => readonly Uint8Array[];

/** An append-only log of records with sequence numbers: what the collector stores to. */
export interface EventLog {
  /**
   * Append one record. Resolves with its sequence once it is durable (on disk,
   * fsynced), never before. Concurrent appends share one fsync.
   */
  append(payload: Uint8Array): Promise<bigint>;
  /**
   * Append records as one atomic unit (an event and the outcomes it caused):
   * after any crash the log holds all of them or none. They get consecutive
   * sequences; resolves with the first once all are durable. Given a
   * GroupAt, the records are built once their position is known.
   */
  appendGroup(payloads: readonly Uint8Array[] | GroupAt): Promise<bigint>;
  /** Every record from `fromSequence` (inclusive; default: the oldest held) to the end as of the call. */
  read(fromSequence?: bigint): AsyncIterable<LogRecord>;
  /**
   * A reader from `fromSequence` that resumes at the byte offset where it
   * stopped, so following the log costs only what is new (optional: see
   * followLog for engines without it).
   */
  follow?(fromSequence: bigint): LogFollower;
  /**
   * Call `listener` with each record appended after this call, once durable.
   * Returns a function that stops it.
   */
  subscribe(listener: (record: LogRecord) => void): () => void;
  /** The sequence of the last durable record (0n when empty). */
  readonly lastSequence: bigint;
  /** Set once a write or fsync has failed: the log then refuses appends until reopened. */
  readonly failure: Error | undefined;
  /** Finish pending appends, then close. Appends after close are refused. */
  close(): Promise<void>;
}
