/**
 * Start-up: read the log once, from the beginning, and hand every entry to
 * each part that keeps state derived from it (the session index, the VRP
 * state machine), in log order.
 */
import { LogEntry } from "../../gen/sessionevents/log/v1/log_entry.js";
import type { EventLog } from "../store/event-log.js";
import { SessionEventsError } from "../errors.js";

export interface LogConsumer {
  replay(entry: LogEntry, sequence: bigint): void;
  /** Told once the last entry was handed over (a consumer that gathers a group finishes it here). */
  finishReplay?(): void;
}

export async function replayLog(log: EventLog, consumers: readonly LogConsumer[]): Promise<number> {
  let count = 0;
  for await (const record of log.read()) {
    let entry: LogEntry;
    try {
      entry = LogEntry.decode(record.payload);
    } catch (e) {
      throw new SessionEventsError(`event log record ${record.sequence} is not a LogEntry: ${(e as Error).message}`, { code: "DATA_LOSS", cause: e });
    }
    for (const consumer of consumers) consumer.replay(entry, record.sequence);
    count++;
  }
  for (const consumer of consumers) consumer.finishReplay?.();
  return count;
}
