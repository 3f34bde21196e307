/**
 * Subscribers for the tailing bench, in their own process: COUNT Subscribe
 * calls, subscriber i following session tail-i from the start. Each event's
 * lag is the time from its send (details.sent) to its arrival; events sent
 * in the first WARMUP ms of the load (from the first send seen) are left
 * out, so the producers' and the collector's cold start is not counted. Runs until SIGTERM, then prints {received, p50,
 * p99, max} (ms) as JSON.
 *
 *   node tailing-subscribers.js TARGET COUNT WARMUP_MS
 */
import { credentials } from "@grpc/grpc-js";
import {
  SubscribeRequest,
  VrpStreamServiceClient,
  type SubscribeResponse,
} from "../../gen/vrp/v1alpha1/vrp_service.js";

const [target, countText, warmupText] = process.argv.slice(2);
const count = Number(countText);
const client = new VrpStreamServiceClient(target!, credentials.createInsecure());
const now = () => performance.timeOrigin + performance.now();
const lags: number[] = [];
let firstSent: number | undefined;
let received = 0;
for (let i = 0; i < count; i++) {
  const call = client.subscribe(SubscribeRequest.fromPartial({ sessionId: `tail-${i}`, afterSequence: 0n }));
  call.on("data", (r: SubscribeResponse) => {
    received++;
    const sent = (r.event?.details as { sent?: unknown } | undefined)?.sent; // a Struct arrives as a plain object
    if (typeof sent !== "number") return;
    firstSent ??= sent;
    if (sent - firstSent > Number(warmupText)) lags.push(now() - sent);
  });
  call.on("error", () => {});
}
console.log("ready");
process.on("SIGTERM", () => {
  lags.sort((a, b) => a - b);
  const at = (q: number) => lags[Math.min(lags.length - 1, Math.floor(q * lags.length))] ?? NaN;
  console.log(JSON.stringify({ received, samples: lags.length, p50: at(0.5), p99: at(0.99), max: lags.at(-1) ?? NaN }));
  process.exit(0);
});
