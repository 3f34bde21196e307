/**
 * VRP load generator, run as its own process: one bidirectional StreamEvents
 * call, keeping WINDOW events unacknowledged, for DURATION ms. Prints
 * {count, seconds} as JSON (count = events acknowledged).
 *
 *   node vrp-load.js TARGET DURATION_MS WINDOW
 */
import { credentials } from "@grpc/grpc-js";
import { bridges } from "../../src/bridge/index.js";
import {
  StreamEventsRequest,
  VrpStreamServiceClient,
  type StreamEventsResponse,
} from "../../gen/vrp/v1alpha1/vrp_service.js";

const [target, durationText, windowText] = process.argv.slice(2);
const durationMs = Number(durationText);
const window = Number(windowText);
const client = new VrpStreamServiceClient(target!, credentials.createInsecure());
const session = `bench-${process.pid}`;
let ts = Date.now();
const request = (type: string) =>
  StreamEventsRequest.fromPartial({
    event: bridges.VrpEvent.fromJson({ ts_ms: ts++, event_type: type, session_id: session, details: { tick: ts } }),
  });

const call = client.streamEvents();
let sent = 0;
let acked = 0;
let started = 0;
let counting = false;
let countedFrom = 0;
const done = new Promise<void>((resolve, reject) => {
  call.on("data", (r: StreamEventsResponse) => {
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
console.log(JSON.stringify({ count: acked - countedFrom, seconds }));
client.close();
