/** One raw StreamEvents call (with call metadata): write requests, half-close, collect every answer (or the call's error). */
import { credentials, Metadata } from "@grpc/grpc-js";
import { channelTarget } from "../../src/client/connection.js";
import {
  type StreamEventsRequest,
  VrpStreamServiceClient,
  type StreamEventsResponse,
} from "../../gen/vrp/v1alpha1/vrp_service.js";

export async function rawStream(
  target: string,
  requests: readonly StreamEventsRequest[],
  deadlineMs = 30_000,
  metadata: Record<string, string> = {},
): Promise<StreamEventsResponse[]> {
  // Several collectors ("a:1,b:2", the contract suites on replicas): the channel picks one.
  const client = new VrpStreamServiceClient(
    target.includes(",") ? channelTarget(target) : target,
    credentials.createInsecure(),
    {
      "grpc.max_send_message_length": -1,
    },
  );
  const md = new Metadata();
  for (const [key, value] of Object.entries(metadata)) md.set(key, value);
  const call = client.streamEvents(md, { deadline: Date.now() + deadlineMs });
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

/** "ack", or "rejected #index: reason", per answer. */
export const describeAnswers = (answers: readonly StreamEventsResponse[]): string[] =>
  answers.map((r) =>
    r.kind?.$case === "ack"
      ? "ack"
      : r.kind?.$case === "rejection"
        ? `rejected #${r.kind.value.index}: ${r.kind.value.reason}`
        : String(r.kind?.$case),
  );
