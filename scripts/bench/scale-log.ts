/**
 * The scale bench's data: a log of N sessions written directly as segment
 * files (a start and, for 9 in 10, an end), and what its queries need to
 * name those sessions. Shared by scale.ts and its query process
 * (scale-query.ts).
 */
import { closeSync, openSync, writeSync } from "node:fs";
import path from "node:path";
import { crc32 } from "node:zlib";
import { bridges } from "../../src/bridge/index.js";
import { parseTimestamp } from "../../src/contract/timestamp.js";
import { encodeFrame, encodeSegmentHeader, HEADER_BYTES } from "../../src/store/frame.js";
import { LogEntry } from "../../gen/sessionevents/log/v1/log_entry.js";
import { validEnd, validStart } from "../../test/support/fixtures.js";

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
  const chunk = 8 * MiB;
  const buf = Buffer.allocUnsafe(chunk + 64 * 1024);
  let sequence = 0;
  let total = 0;
  let fd = -1;
  let segment = 0;
  let used = 0;
  const flush = () => {
    writeSync(fd, buf, 0, used);
    segment += used;
    total += used;
    used = 0;
  };
  const roll = () => {
    if (fd >= 0) {
      flush();
      closeSync(fd);
    }
    fd = openSync(path.join(dir, `${String(sequence + 1).padStart(20, "0")}.seg`), "w");
    const header = encodeSegmentHeader(BigInt(sequence + 1));
    writeSync(fd, header);
    segment = header.length;
    total += header.length;
  };
  roll();
  for (let i = 0; i < sessions; i++) {
    for (const payload of sessionRecords(i, template)) {
      sequence++;
      buf.writeUInt32LE(payload.length, used);
      buf.writeUInt32LE(0, used + 4); // flags: not continued
      buf.writeBigUInt64LE(BigInt(sequence), used + 8);
      buf.writeUInt32LE(crc32(payload), used + 16);
      buf.writeUInt32LE(crc32(buf.subarray(used, used + 20)), used + 20);
      buf.set(payload, used + HEADER_BYTES);
      if (sequence === 1 && !buf.subarray(0, HEADER_BYTES + payload.length).equals(encodeFrame(1n, payload)))
        throw new Error("frame layout differs from encodeFrame");
      used += HEADER_BYTES + payload.length;
      if (used >= chunk) flush();
    }
    if (segment + used >= SEGMENT_BYTES) roll();
  }
  flush();
  closeSync(fd);
  return { bytes: total, records: sequence };
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
