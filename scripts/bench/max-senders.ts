/**
 * Clients that keep sending maximum-size events, run as their own process:
 * CLIENTS channels (each its own connection), each with one EmitSessionStart
 * in flight at a time, every call a SessionStartEvent of exactly BYTES
 * protobuf bytes made of many small metadata keys, with a fresh event_id.
 * The request is encoded once and only its event_id is rewritten per call, so
 * the senders spend almost nothing of the machine's CPU on themselves.
 * Prints "ready" once every client has had an answer, and on SIGTERM (or
 * after DURATION ms) {count, errors, seconds, codes} as JSON.
 *
 *   node max-senders.js TARGET CLIENTS BYTES DURATION_MS
 */
import { randomUUID } from "node:crypto";
import { Client, credentials, status, type ServiceError } from "@grpc/grpc-js";
import { bridges } from "../../src/bridge/index.js";
import { SessionStartEvent } from "../../src/session/models.js";
import { EmitSessionStartRequest } from "../../gen/oneiric/session/v1/session_service.js";
import { sessionStartOfSize } from "./big-event.js";

const [target, clientsText, bytesText, durationText] = process.argv.slice(2);
const clients = Number(clientsText);
const bytes = Number(bytesText);
const durationMs = Number(durationText);

const template = SessionStartEvent.create({ componentName: "bench", shellType: "BenchShell" });
const json = sessionStartOfSize(bytes, template);
const request = Buffer.from(
  EmitSessionStartRequest.encode({ event: bridges.SessionStartEvent.fromJson(json) }).finish(),
);
const idAt = request.indexOf(Buffer.from(json.event_id));
if (idAt < 0) throw new Error("event_id not found in the encoded request");

let count = 0;
let errors = 0;
const codes: Record<string, number> = {};
let stopping = false;
const start = performance.now();

function once(client: Client): Promise<void> {
  const body = Buffer.from(request); // one copy per call: the id differs
  body.write(randomUUID(), idAt, "latin1");
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      "/oneiric.session.v1.SessionService/EmitSessionStart",
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      (error: ServiceError | null) => {
        if (error) {
          errors++;
          codes[status[error.code]] = (codes[status[error.code]] ?? 0) + 1;
        } else count++;
        resolve();
      },
    );
  });
}

const channels = Array.from(
  { length: clients },
  () => new Client(target!, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }),
);
await Promise.all(channels.map((c) => once(c)));
count = 0;
errors = 0;
console.log("ready");
const deadline = start + durationMs;
const finish = () => {
  stopping = true;
};
process.on("SIGTERM", finish);
const t0 = performance.now();
await Promise.all(
  channels.map(async (c) => {
    while (!stopping && performance.now() < deadline) await once(c);
  }),
);
console.log(JSON.stringify({ count, errors, seconds: (performance.now() - t0) / 1000, codes }));
for (const c of channels) c.close();
