/**
 * followLog: a LogFollower over any EventLog. An engine with its own
 * (SegmentLog: byte offsets) is used as it is; for one without, a reader
 * that reads from the position it reached each time.
 */
import type { EventLog, LogFollower, LogRecord } from "./event-log.js";

/** A follower for any EventLog: the log's own cursor when it has one, else reads from the last position handed out. */
export function followLog(log: EventLog, fromSequence: bigint): LogFollower {
  return log.follow ? log.follow(fromSequence) : new ReadFollower(log, fromSequence);
}

class ReadFollower implements LogFollower {
  constructor(
    private readonly log: EventLog,
    private next: bigint,
  ) {}

  get position(): bigint {
    return this.next;
  }

  async *records(): AsyncGenerator<LogRecord> {
    for await (const record of this.log.read(this.next)) {
      this.next = record.sequence + 1n;
      yield record;
    }
  }
}
