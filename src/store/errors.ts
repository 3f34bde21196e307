/** The log's errors. Each names what a reader needs to act: the file, the byte offset, the rule. */
import { SessionEventsError } from "../errors.js";

/**
 * The log holds damage that a crash cannot leave: open refuses rather than
 * cut acknowledged records. `session-events log verify` reports it and
 * `session-events log repair` moves it aside.
 */
export class LogCorruptionError extends SessionEventsError {
  override readonly name = "LogCorruptionError";
  constructor(
    /** The segment (or other file) holding the damage. */
    readonly segment: string,
    /** Byte offset of the damage in that file. */
    readonly offset: number,
    /** The rule broken: torn, checksum, framing, sequence, segment_header, format, missing_segment, repairs. */
    readonly rule: string,
    /** What is wrong there, for a human. */
    readonly detail: string,
  ) {
    super(`${segment} at byte ${offset}: ${detail} [${rule}]`, {
      code: "DATA_LOSS",
      issues: [{ path: `${segment}@${offset}`, rule, message: detail }],
    });
  }
}

/** Appends after close, or on a log opened read-only. */
export class LogClosedError extends SessionEventsError {
  override readonly name = "LogClosedError";
  constructor(message: string, options: { readonly cause?: unknown } = {}) {
    super(message, { code: "FAILED_PRECONDITION", cause: options.cause });
  }
}

/** Another process (or this one) has the log open for writing. */
export class LogLockedError extends SessionEventsError {
  override readonly name = "LogLockedError";
  constructor(message: string, options: { readonly cause?: unknown } = {}) {
    super(message, { code: "UNAVAILABLE", cause: options.cause });
  }
}

/** A write or fsync failed: the log refuses appends until it is reopened (whose recovery cuts what was not completely written). */
export class LogFailedError extends SessionEventsError {
  override readonly name = "LogFailedError";
  constructor(message: string, options: { readonly cause?: unknown } = {}) {
    super(message, { code: "UNAVAILABLE", cause: options.cause });
  }
}

/**
 * A read asked for records the log no longer holds: retention removed the
 * segments before `firstSequence`. The answer names the oldest position
 * still held, so a reader can resume from there (or from an archive).
 */
export class LogOutOfRangeError extends SessionEventsError {
  override name = "LogOutOfRangeError";
  constructor(
    /** The sequence asked for. */
    readonly requested: bigint,
    /** The oldest sequence the log still holds. */
    readonly firstSequence: bigint,
  ) {
    super(
      `sequence ${requested} is no longer in the log (removed by retention); the oldest sequence still held is ${firstSequence}`,
      { code: "OUT_OF_RANGE" },
    );
  }
}
