/**
 * VRP load generator, run as its own process: one bidirectional StreamEvents
 * call, keeping WINDOW events unacknowledged, for DURATION ms. Prints
 * {count, seconds, answers} as JSON (count = events acknowledged, answers =
 * messages received). COALESCE=1 asks for coalesced Acks (x-coalesce-acks),
 * as VrpProducer does.
 *
 *   node vrp-load.js TARGET DURATION_MS WINDOW [COALESCE]
 */
import { credentials, Metadata } from "@grpc/grpc-js";
import { bridges } from "../../src/bridge/index.js";
import {
  StreamEventsRequest,
  VrpStreamServiceClient,
  type StreamEventsResponse,
} from "../../gen/vrp/v1alpha1/vrp_service.js";
import { COALESCE_ACKS_KEY } from "../../src/vrp/stream-headers.js";

const [target, durationText, windowText, coalesceText] = process.argv.slice(2);
const durationMs = Number(durationText);
const window = Number(windowText);
const client = new VrpStreamServiceClient(target!, credentials.createInsecure());
const session = `bench-${process.pid}`;
let ts = Date.now();
const request = (type: string) =>
  StreamEventsRequest.fromPartial({
    event: bridges.VrpEvent.fromJson({ ts_ms: ts++, event_type: type, session_id: session, details: { tick: ts } }),
  });

const metadata = new Metadata();
if (coalesceText === "1") metadata.set(COALESCE_ACKS_KEY, "1");
const call = client.streamEvents(metadata);
let answers = 0;
let sent = 0;
let acked = 0;
let started = 0;
let counting = false;
let countedFrom = 0;
const done = new Promise<void>((resolve, reject) => {
  call.on("data", (r: StreamEventsResponse) => {
    if (counting) answers++;
    if (r.kind?.$case !== "ack") return;
    acked = Number(r.kind.value.acceptedCount);
    if (!counting && acked >= 1) {
      counting = true; // the first ack: connected and warm
      countedFrom = acked;
      started = performance.now();
    }
    if (counting && performance.now() - started >= durationMs) {
      call.end();
      return;
    }
    pump();
  });
  call.on("end", resolve);
  call.on("error", reject);
});
function pump(): void {
  while (sent - acked < window) {
    call.write(request(sent === 0 ? "SESSION_CREATED" : "MUTATION_TICK"));
    sent++;
  }
}
pump();
await done.catch(() => {});
const seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify({ count: acked - countedFrom, seconds, answers }));
client.close();
