/**
 * `log upgrade`: copy a data directory written by session-events 0.1.0 (log
 * format 1) into a new directory in format 2, record for record, keeping
 * every sequence. The old directory is only read.
 */
import { readdir } from "node:fs/promises";
import { readFormat1Segment } from "./format1.js";
import { listSegments } from "./segment-file.js";
import { SegmentLog } from "./segment-log.js";
import { SessionEventsError } from "../errors.js";
import { LogCorruptionError } from "./errors.js";

/** Appends queued at once while copying: enough to share fsyncs, little memory. */
const IN_FLIGHT = 1024;

/** Copy a log of format 1 into a new directory in the current format, record by record. */
export async function upgradeLog(from: string, to: string): Promise<{ records: number; lastSequence: bigint }> {
  const existing = await readdir(to).catch(() => []);
  if (existing.length > 0)
    throw new SessionEventsError(`${to}: must be a new or empty directory`, { code: "FAILED_PRECONDITION" });
  const segments = await listSegments(from);
  if (segments.length === 0) throw new SessionEventsError(`${from} holds no log segments`, { code: "NOT_FOUND" });
  const log = await SegmentLog.open({ dir: to });
  let records = 0;
  try {
    let pending: Promise<bigint>[] = [];
    for (const [i, segment] of segments.entries()) {
      for await (const record of readFormat1Segment(segment.file, i === segments.length - 1)) {
        if (record.sequence !== log.nextSequence) {
          throw new LogCorruptionError(
            segment.file,
            0,
            "sequence",
            `record ${record.sequence} where ${log.nextSequence} was expected (a gap in the old log)`,
          );
        }
        pending.push(log.append(record.payload));
        records++;
        if (pending.length >= IN_FLIGHT) {
          await Promise.all(pending);
          pending = [];
        }
      }
    }
    await Promise.all(pending);
    return { records, lastSequence: log.lastSequence };
  } finally {
    await log.close();
  }
}
