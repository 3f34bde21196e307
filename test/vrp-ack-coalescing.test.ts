/**
 * Coalesced Acks on StreamEvents (x-coalesce-acks: 1): a run of events made
 * durable together is answered by one Ack listing each event's log sequence,
 * in order; a Rejection or a derived event is never overtaken; a producer
 * that does not ask gets one Ack per event as before. A real collector on
 * loopback, real files; the log sequences are checked against Subscribe.
 */
import { status, type ServiceError } from "@grpc/grpc-js";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bridges } from "../src/bridge/index.js";
import { VrpProducer, subscribeVrp } from "../src/client/vrp.js";
import type { VrpEventJson } from "../src/contract/types.js";
import { COALESCE_ACKS_KEY, PRODUCER_ID_KEY } from "../src/vrp/stream-headers.js";
import { type Ack, StreamEventsRequest, type StreamEventsResponse } from "../gen/vrp/v1alpha1/vrp_service.js";
import { fieldViolations } from "../src/server/rich-error.js";
import { startTestServer } from "./support/collector.js";
import { rawStream } from "./support/raw-stream.js";

let clock = 1_770_000_000_000;
const event = (type: string, session: string): VrpEventJson => ({
  ts_ms: (clock += 10),
  event_type: type,
  session_id: session,
  details: { n: clock },
});

const stream = (target: string, metadata: Record<string, string>, requests: readonly StreamEventsRequest[]) =>
  rawStream(target, requests, 30_000, metadata);

/** The log sequences of a session's producer events, in log order (what Subscribe reads back). */
async function storedSequences(target: string, session: string, count: number): Promise<bigint[]> {
  const out: bigint[] = [];
  const deadline = Date.now() + 15_000;
  for await (const item of subscribeVrp({ target, sessionId: session })) {
    if (!item.derived) out.push(item.sequence);
    if (out.length === count) break;
    if (Date.now() > deadline) throw new Error(`read ${out.length} of ${count} events in 15 s`);
  }
  return out;
}

const acks = (answers: readonly StreamEventsResponse[]): Ack[] =>
  answers.flatMap((a) => (a.kind?.$case === "ack" ? [a.kind.value] : []));

test("coalesced: fewer Acks than events, each listing every event's own log sequence, in order; a Rejection is never overtaken", async () => {
  const server = await startTestServer();
  try {
    const session = "coalesced";
    const refusedAt = 150n;
    const requests = Array.from({ length: 300 }, (_, i) => {
      const producerSequence = BigInt(i + 1);
      const json = event(i === 0 ? "SESSION_CREATED" : "MUTATION_TICK", session);
      const ev = bridges.VrpEvent.fromJson(json);
      return StreamEventsRequest.fromPartial({
        event: producerSequence === refusedAt ? { ...ev, tsMs: -1n } : ev, // one invalid event in the middle
        producerId: "co",
        producerSequence,
      });
    });
    const answers = await stream(server.target, { [PRODUCER_ID_KEY]: "co", [COALESCE_ACKS_KEY]: "1" }, requests);
    const stored = await storedSequences(server.target, session, 299);

    // Every accepted event is answered once, with its own log sequence, in the order sent.
    const listed = acks(answers).flatMap((a) => a.sequences);
    assert.equal(listed, stored);
    assert.ok(acks(answers).length < 299, `${acks(answers).length} Acks for 299 events: nothing was coalesced`);
    let accepted = 0n;
    for (const a of acks(answers)) {
      accepted += BigInt(a.sequences.length);
      assert.is(a.sequence, a.sequences.at(-1)); // the last event it answers
      assert.is(a.acceptedCount, accepted); // still cumulative
    }
    // The Rejection comes after the Acks of everything sent before it, and before any Ack of what came after.
    const at = answers.findIndex((a) => a.kind?.$case === "rejection");
    assert.ok(at >= 0);
    const rejection = answers[at]!.kind as { value: { index: bigint; reason: string } };
    assert.is(rejection.value.index, refusedAt);
    const before = acks(answers.slice(0, at));
    assert.is(before.at(-1)?.producerSequence, refusedAt - 1n);
    assert.is(
      before.reduce((n, a) => n + a.sequences.length, 0),
      Number(refusedAt - 1n),
    );
  } finally {
    await server.shutdown();
  }
});

test("not asked: one Ack per event, with no list (what older producers read)", async () => {
  const server = await startTestServer();
  try {
    const requests = Array.from({ length: 60 }, () =>
      StreamEventsRequest.fromPartial({ event: bridges.VrpEvent.fromJson(event("MUTATION_TICK", "each")) }),
    );
    const answers = await stream(server.target, {}, requests);
    const stored = await storedSequences(server.target, "each", 60);
    assert.is(acks(answers).length, 60);
    assert.equal(
      acks(answers).map((a) => a.sequence),
      stored,
    );
    assert.ok(acks(answers).every((a) => a.sequences.length === 0));
  } finally {
    await server.shutdown();
  }
});

test("VrpProducer asks for coalesced Acks and resolves every send with its own log sequence", async () => {
  const server = await startTestServer();
  const producer = new VrpProducer({ target: server.target, producerId: "sdk" });
  try {
    const sent = await Promise.all(Array.from({ length: 200 }, () => producer.send(event("MUTATION_TICK", "sdk"))));
    const stored = await storedSequences(server.target, "sdk", 200);
    assert.equal(
      sent.map((s) => s.sequence),
      stored,
    );
    assert.equal(
      sent.map((s) => s.producerSequence),
      Array.from({ length: 200 }, (_, i) => BigInt(i + 1)),
    );
  } finally {
    await producer.close();
    await server.shutdown();
  }
});

test("x-coalesce-acks other than 1 or 0: INVALID_ARGUMENT naming the header and the rule", async () => {
  const server = await startTestServer();
  try {
    const error = (await stream(server.target, { [COALESCE_ACKS_KEY]: "yes" }, []).then(
      () => assert.unreachable("accepted"),
      (e: unknown) => e,
    )) as ServiceError;
    assert.is(error.code, status.INVALID_ARGUMENT);
    assert.match(error.details, /x-coalesce-acks: must be "1" \(coalesce Acks\) or "0"/);
    assert.equal(
      fieldViolations(error).map((v) => [v.field, v.reason]),
      [["metadata.x-coalesce-acks", "ENUM"]],
    );
  } finally {
    await server.shutdown();
  }
});

test.run();
