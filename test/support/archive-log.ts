/**
 * Building real collector logs for the archive tests: LogEntry payloads made
 * the way the collector makes them (ts-proto messages from the bridge), put
 * in a data directory by the real SegmentLog, or framed into a segment file.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { bridges } from "../../src/bridge/index.js";
import type { SessionEndEventJson, SessionStartEventJson, VrpEventJson } from "../../src/contract/types.js";
import { parseTimestamp } from "../../src/contract/timestamp.js";
import { encodeFrame, encodeSegmentHeader } from "../../src/store/frame.js";
import { SegmentLog } from "../../src/store/segment-log.js";
import { LogEntry } from "../../gen/sessionevents/log/v1/log_entry.js";
import { validEnd, validStart, validVrp } from "./fixtures.js";

export type LoggedEvent =
  | { kind: "session_started"; json: SessionStartEventJson; sessionId: string; receivedAt?: string }
  | { kind: "session_ended"; json: SessionEndEventJson; receivedAt?: string }
  | { kind: "vrp_received"; json: VrpEventJson; producerId?: string; producerSequence?: bigint; receivedAt?: string }
  | { kind: "vrp_derived"; json: VrpEventJson; causeSequence: bigint; receivedAt?: string };

export function logEntryBytes(e: LoggedEvent): Uint8Array {
  const receivedAt = e.receivedAt === undefined ? undefined : parseTimestamp(e.receivedAt);
  switch (e.kind) {
    case "session_started":
      return LogEntry.encode({
        receivedAt,
        entry: {
          $case: "sessionStarted",
          value: { sessionId: e.sessionId, event: bridges.SessionStartEvent.fromJson(e.json) },
        },
      }).finish();
    case "session_ended":
      return LogEntry.encode({
        receivedAt,
        entry: {
          $case: "sessionEnded",
          value: { sessionId: e.json.session_id, event: bridges.SessionEndEvent.fromJson(e.json) },
        },
      }).finish();
    case "vrp_received":
      return LogEntry.encode({
        receivedAt,
        entry: {
          $case: "vrpReceived",
          value: {
            producerId: e.producerId ?? "",
            producerSequence: e.producerSequence ?? 0n,
            event: bridges.VrpEvent.fromJson(e.json),
          },
        },
      }).finish();
    case "vrp_derived":
      return LogEntry.encode({
        receivedAt,
        entry: {
          $case: "vrpDerived",
          value: { causeSequence: e.causeSequence, event: bridges.VrpEvent.fromJson(e.json) },
        },
      }).finish();
  }
}

/** A data directory written by the real log (small segments, so there are several). */
export async function writeDataDir(dir: string, events: readonly LoggedEvent[], segmentBytes = 4096): Promise<void> {
  const log = await SegmentLog.open({ dir, segmentBytes });
  try {
    for (const e of events) await log.append(logEntryBytes(e));
  } finally {
    await log.close();
  }
}

/** One segment file (its header, then framed records), sequences from 1 (or as given). */
export function writeSegmentFile(file: string, payloads: readonly Uint8Array[], sequences?: readonly bigint[]): void {
  const sequenceOf = (i: number) => sequences?.[i] ?? BigInt(i + 1);
  writeFileSync(
    file,
    Buffer.concat([encodeSegmentHeader(sequenceOf(0)), ...payloads.map((p, i) => encodeFrame(sequenceOf(i), p))]),
  );
}

/** A small, varied log: starts, ends, producer and derived VRP events. */
export function sampleEvents(n = 12): LoggedEvent[] {
  return Array.from({ length: n }, (_, i): LoggedEvent => {
    const at = `2026-02-06T12:${String(i % 60).padStart(2, "0")}:00Z`;
    switch (i % 4) {
      case 0:
        return {
          kind: "session_started",
          json: { ...validStart(), event_id: `550e8400-e29b-41d4-a716-${String(446655440000 + i)}`, timestamp: at },
          sessionId: `sess_${i}`,
          receivedAt: at,
        };
      case 1:
        return {
          kind: "vrp_received",
          json: { ...validVrp(), ts_ms: Date.parse(at) },
          producerId: "probe-1",
          producerSequence: BigInt(i),
          receivedAt: at,
        };
      case 2:
        return {
          kind: "vrp_derived",
          json: {
            ...validVrp(),
            event_type: "STATE_CHANGE",
            ts_ms: Date.parse(at),
            details: { from_state: "CREATED", to_state: "ACTIVE" },
          },
          causeSequence: BigInt(i),
        };
      default:
        return {
          kind: "session_ended",
          json: { ...validEnd(), session_id: `sess_${i - 3}`, timestamp: at },
          receivedAt: at,
        };
    }
  });
}

/** JSON Lines of `n` sample events, as export writes them (contract JSON, one a line). */
export async function sampleJsonLines(dir: string, n: number): Promise<string> {
  const { readArchive } = await import("../../src/archive/read.js");
  const { formatLine } = await import("../../src/archive/lines.js");
  const seg = path.join(dir, `src-${n}.seg`);
  writeSegmentFile(seg, sampleEvents(n).map(logEntryBytes));
  const lines: string[] = [];
  for await (const e of readArchive(seg)) lines.push(`${formatLine(e, "events")}\n`);
  return lines.join("");
}
