/**
 * Shutdown ends long-lived streams at once with UNAVAILABLE (a client's cue
 * to reconnect), while a unary call in flight keeps its grace period. The
 * grace period here is a minute: a shutdown that waited for the streams
 * would not finish before the test's own deadline.
 */
import { credentials, status, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { HealthClient, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health.js";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bridges } from "../src/bridge/index.js";
import {
  StreamEventsRequest,
  SubscribeRequest,
  VrpStreamServiceClient,
  type StreamEventsResponse,
} from "../gen/vrp/v1alpha1/vrp_service.js";
import { startTestServer } from "./support/collector.js";

/** How a server stream ended: its status code, and what it received before. */
function ending(
  stream: ClientReadableStream<unknown>,
): Promise<{ code: status; details: string; received: unknown[] }> {
  const received: unknown[] = [];
  stream.on("data", (d: unknown) => received.push(d));
  return new Promise((resolve) => {
    stream.on("error", (e: ServiceError) => resolve({ code: e.code, details: e.details, received }));
    stream.on("end", () => resolve({ code: status.OK, details: "", received }));
  });
}

function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms))),
  ]);
}

test("Subscribe, StreamEvents and health Watch end with UNAVAILABLE as shutdown begins; shutdown does not wait out the grace", async () => {
  const server = await startTestServer({ shutdownGraceMs: 60_000 });
  const vrp = new VrpStreamServiceClient(server.target, credentials.createInsecure());
  const health = new HealthClient(server.target, credentials.createInsecure()) as unknown as {
    watch(request: object): ClientReadableStream<{ status: HealthCheckResponse_ServingStatus }>;
    close(): void;
  };

  // A producer with its stream open (an event stored and acknowledged), a subscriber caught up, a health watcher.
  const produce = vrp.streamEvents();
  const produced = ending(produce as unknown as ClientReadableStream<unknown>);
  const acked = new Promise((resolve) =>
    produce.on("data", (r: StreamEventsResponse) => r.kind?.$case === "ack" && resolve(r)),
  );
  produce.write(
    StreamEventsRequest.fromPartial({
      event: bridges.VrpEvent.fromJson({ ts_ms: 1_767_225_600_000, event_type: "SESSION_CREATED", session_id: "sd-1" }),
    }),
  );
  await acked;
  const subscription = vrp.subscribe(SubscribeRequest.fromPartial({ sessionId: "sd-1" }));
  const subscribed = ending(subscription);
  const watch = health.watch({ service: "" });
  const watched = ending(watch);
  // Both are live: each has sent its first message.
  const first = (s: ClientReadableStream<unknown>) => new Promise((resolve) => s.once("data", resolve));
  await Promise.all([first(subscription), first(watch)]);

  const stopped = server.shutdown();
  const sub = await within(15_000, "Subscribe's end", subscribed);
  assert.is(sub.code, status.UNAVAILABLE, sub.details);
  assert.match(sub.details, /shutting down: reconnect/);
  const w = await within(15_000, "Watch's end", watched);
  assert.is(w.code, status.UNAVAILABLE, w.details);
  assert.equal(
    w.received.at(-1),
    { status: HealthCheckResponse_ServingStatus.NOT_SERVING },
    "a watcher hears NOT_SERVING before the end",
  );
  const prod = await within(15_000, "StreamEvents' end", produced);
  assert.is(prod.code, status.UNAVAILABLE, prod.details);
  await within(15_000, "shutdown", stopped);
  vrp.close();
  health.close();
});

test("a subscriber that connects while the server is stopping is told to reconnect at once", async () => {
  const server = await startTestServer({ shutdownGraceMs: 60_000 });
  const vrp = new VrpStreamServiceClient(server.target, credentials.createInsecure());
  const stopped = server.shutdown();
  const late = ending(vrp.subscribe(SubscribeRequest.fromPartial({ sessionId: "sd-2" })));
  const { code } = await within(15_000, "the late subscriber's end", late);
  assert.ok(code === status.UNAVAILABLE, `code ${status[code]}`);
  await within(15_000, "shutdown", stopped);
  vrp.close();
});

test.run();
