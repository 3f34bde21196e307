/** A raw StreamEvents call for tests that need exact producer numbers and every answer, in order. */
import { credentials } from "@grpc/grpc-js";
import { StreamEventsRequest, VrpStreamServiceClient, type StreamEventsResponse } from "../../gen/vrp/v1alpha1/vrp_service.js";

/** Write requests on one StreamEvents call, half-close, and collect every answer until the server ends the call. */
export async function rawStream(target: string, requests: readonly StreamEventsRequest[]): Promise<StreamEventsResponse[]> {
  const client = new VrpStreamServiceClient(target, credentials.createInsecure());
  const call = client.streamEvents();
  const answers: StreamEventsResponse[] = [];
  const done = new Promise<void>((resolve, reject) => {
    call.on("data", (r: StreamEventsResponse) => answers.push(r));
    call.on("end", resolve);
    call.on("error", reject);
  });
  for (const r of requests) call.write(r);
  call.end();
  try {
    await done;
  } finally {
    client.close();
  }
  return answers;
}

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
