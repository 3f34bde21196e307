/** Log payloads as the collector stores them, for tests that fill a log directly. */
import { bridges } from "../../src/bridge/index.js";
import { LogEntry } from "../../gen/sessionevents/log/v1/log_entry.js";
import { validVrp } from "./fixtures.js";

/** A vrpReceived entry holding a valid VRP event of `sessionId`, numbered `i` by its ts_ms. */
export function vrpEntry(i: number, sessionId = "sess-tail"): Buffer {
  const event = bridges.VrpEvent.fromJson({ ...validVrp(), session_id: sessionId, ts_ms: 1700000000000 + i });
  return Buffer.from(
    LogEntry.encode({
      receivedAt: undefined,
      entry: { $case: "vrpReceived", value: { event, producerId: "", producerSequence: 0n } },
    }).finish(),
  );
}
