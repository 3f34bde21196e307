/**
 * The scale bench's data: a log of N sessions written directly as segment
 * files (a start and, for 9 in 10, an end), and what its queries need to
 * name those sessions. Shared by scale.ts and its query process
 * (scale-query.ts).
 */
import { bridges } from "../../src/bridge/index.js";
import { parseTimestamp } from "../../src/contract/timestamp.js";
import { LogEntry } from "../../gen/sessionevents/log/v1/log_entry.js";
import { validEnd, validStart } from "../../test/support/fixtures.js";
import { BenchSegmentWriter } from "./segment-writer.js";

const MiB = 2 ** 20;
const SEGMENT_BYTES = 64 * MiB;
export const COMPONENTS = 20;

export const sessionId = (i: number) => `sess_${i.toString(16).padStart(32, "0")}`;
export const T0 = Date.UTC(2025, 0, 1);
/** Session i starts i × 30 s after T0: a million sessions cover about a year. */
export const startMs = (i: number) => T0 + i * 30_000;

/** The records of session i: its start, and its end unless it stays open (1 in 10). */
function sessionRecords(
  i: number,
  template: { start: ReturnType<typeof validStart>; end: ReturnType<typeof validEnd> },
): Uint8Array[] {
  const t = startMs(i);
  const start = bridges.SessionStartEvent.fromJson({
    ...template.start,
    event_id: `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`,
    component_name: `component-${i % COMPONENTS}`,
    timestamp: new Date(t).toISOString(),
    pid: 1000 + (i % 30_000),
  });
  const records = [
    LogEntry.encode({
      receivedAt: parseTimestamp(new Date(t + 3).toISOString()),
      entry: { $case: "sessionStarted", value: { sessionId: sessionId(i), event: start } },
    }).finish(),
  ];
  if (i % 10 !== 9) {
    const end = bridges.SessionEndEvent.fromJson({
      ...template.end,
      session_id: sessionId(i),
      timestamp: new Date(t + 600_000).toISOString(),
    });
    records.push(
      LogEntry.encode({
        receivedAt: parseTimestamp(new Date(t + 600_003).toISOString()),
        entry: { $case: "sessionEnded", value: { sessionId: sessionId(i), event: end } },
      }).finish(),
    );
  }
  return records;
}

/** A data directory holding `sessions` sessions, in segments like the collector's. Ends are written right after their start. */
export function writeLog(dir: string, sessions: number): { bytes: number; records: number } {
  const template = { start: validStart(), end: validEnd() };
  const writer = new BenchSegmentWriter(dir);
  let sequence = 0;
  writer.startSegment(1);
  for (let i = 0; i < sessions; i++) {
    for (const payload of sessionRecords(i, template)) writer.add(++sequence, payload);
    if (writer.segmentSize >= SEGMENT_BYTES) writer.startSegment(sequence + 1);
  }
  writer.close();
  return { bytes: writer.total, records: sequence };
}

/** A page token as the collector issues them ("after this log position"). */
export const tokenAfter = (sequence: number) => Buffer.from(`v1:${sequence}`).toString("base64url");

/** What the query process measured. */
export interface Queries {
  getP50: number;
  getP99: number;
  /** The same calls from a bare node:http2 client (no grpc-js client costs), in turn with them. */
  bareGetP50: number;
  bareGetP99: number;
  /** The query process's own GC pauses during the 2,000 GetSession calls. */
  getClientGcs: number;
  getClientGcMs: number;
  listComponentP99: number;
  listOpenP99: number;
  listTimeP99: number;
  listedMedian: number;
}
