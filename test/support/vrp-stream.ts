/** A raw StreamEvents call for tests that need exact producer numbers and every answer, in order. */
import type { StreamEventsResponse } from "../../gen/vrp/v1alpha1/vrp_service.js";

export { rawStream } from "./raw-stream.js";

/** One line per answer: "ack N seq S", "stateChange REASON", "audit REASON", "rejection #I". */
export function summarize(answers: readonly StreamEventsResponse[]): string[] {
  return answers.map(({ kind }) => {
    switch (kind?.$case) {
      case "ack":
        return `ack ${kind.value.acceptedCount} seq ${kind.value.sequence}`;
      case "stateChange":
        return `stateChange ${kind.value.reasonCode}`;
      case "audit":
        return `audit ${kind.value.reasonCode}`;
      case "rejection":
        return `rejection #${kind.value.index}: ${kind.value.reason}`;
      default:
        return "empty answer";
    }
  });
}
