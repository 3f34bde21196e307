/**
 * subscribeVrp resuming after a broken stream: on an engine where an atomic
 * group is one position (JetStream: an event and what it caused share it),
 * a stream can break between two records of one position; the client must
 * resume at that position and skip only what it already yielded.
 */
import { type ServerWritableStream, Server, ServerCredentials, status } from "@grpc/grpc-js";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type SubscribeRequest, SubscribeResponse, VrpStreamServiceService } from "../gen/vrp/v1alpha1/vrp_service.js";
import { bridges } from "../src/bridge/index.js";
import { subscribeVrp } from "../src/client/vrp.js";
import { validVrp } from "./support/fixtures.js";

const record = (sequence: bigint, eventType: string, derived = false) =>
  SubscribeResponse.fromPartial({
    sequence,
    derived,
    event: bridges.VrpEvent.fromJson({ ...validVrp(), event_type: eventType, session_id: "s-1" }),
  });

/** The log as the scripted collector holds it: position 2 is an event and the outcome it caused. */
const LOG = [
  record(1n, "SESSION_CREATED"),
  record(2n, "SESSION_STARTED"),
  record(2n, "STATE_CHANGE", true),
  record(3n, "MUTATION_TICK"),
];

test("a stream broken between two records of one position resumes at it, skipping only what was yielded", async () => {
  const asked: bigint[] = [];
  const server = new Server();
  server.addService(VrpStreamServiceService, {
    streamEvents: (call: { emit(e: string, v: unknown): void }) =>
      call.emit("error", { code: status.UNIMPLEMENTED, details: "not here" }),
    subscribe(call: ServerWritableStream<SubscribeRequest, SubscribeResponse>) {
      asked.push(call.request.afterSequence);
      const from = LOG.filter((r) => r.sequence > call.request.afterSequence);
      if (asked.length === 1) {
        // The first stream breaks inside position 2: its event went out, the outcome did not.
        for (const r of from.slice(0, 2)) call.write(r);
        setImmediate(() => call.emit("error", { code: status.UNAVAILABLE, details: "replica lost" }));
        return;
      }
      for (const r of from) call.write(r); // then stays open, as a live subscription does
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  try {
    const seen: string[] = [];
    for await (const { sequence, event, derived } of subscribeVrp({
      target: `127.0.0.1:${port}`,
      reconnect: { initialIntervalMs: 10, maxIntervalMs: 20 },
    })) {
      seen.push(`${sequence}:${event.event_type}${derived ? ":derived" : ""}`);
      if (seen.length === LOG.length) break;
    }
    assert.equal(seen, ["1:SESSION_CREATED", "2:SESSION_STARTED", "2:STATE_CHANGE:derived", "3:MUTATION_TICK"]);
    assert.equal(asked, [0n, 1n], "resumed after position 1, not 2: position 2 was not finished");
  } finally {
    server.forceShutdown();
  }
});

test.run();
