/**
 * Issue 9: a per-event size limit below the transport's (--max-event-bytes).
 * An event over it is refused before it is decoded: RESOURCE_EXHAUSTED on the
 * unary calls, a Rejection on StreamEvents (whose call goes on), each naming
 * the field and the limit. Events at the limit pass. Clients sending
 * max-size events do not keep a small call from being answered. (How long
 * the small calls take is the benchmark's to say, not a test's.)
 */
import { randomUUID } from "node:crypto";
import { status, type ServiceError } from "@grpc/grpc-js";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bridges } from "../src/bridge/index.js";
import { parseServeConfig } from "../src/cli/serve-config.js";
import { fieldViolations } from "../src/server/rich-error.js";
import { UsageError } from "../src/cli/usage-error.js";
import { StreamEventsRequest } from "../gen/vrp/v1alpha1/vrp_service.js";
import type { EmitSessionStartResponse } from "../gen/oneiric/session/v1/session_service.js";
import { sessionStartOfSize, vrpEventOfSize } from "../scripts/bench/big-event.js";
import { validEnd, validStart, validVrp } from "./support/fixtures.js";
import { call, clientFor, rejection, startTestServer } from "./support/collector.js";
import { describeAnswers, rawStream } from "./support/raw-stream.js";

const startOfSize = (bytes: number) =>
  bridges.SessionStartEvent.fromJson(sessionStartOfSize(bytes, { ...validStart(), event_id: randomUUID() }));
const small = () => bridges.SessionStartEvent.fromJson({ ...validStart(), event_id: randomUUID() });

test("--max-event-bytes: 256 KiB by default, from the flag or SESSION_EVENTS_MAX_EVENT_BYTES, at most --max-message-bytes", () => {
  const base = ["--data-dir", "/tmp/unused"];
  assert.is(parseServeConfig(base, {}).maxEventBytes, 262144);
  assert.is(parseServeConfig(base, { SESSION_EVENTS_MAX_EVENT_BYTES: "65536" }).maxEventBytes, 65536);
  assert.is(
    parseServeConfig([...base, "--max-event-bytes", "4096"], { SESSION_EVENTS_MAX_EVENT_BYTES: "65536" }).maxEventBytes,
    4096,
  );
  assert.is(parseServeConfig([...base, "--max-event-bytes", "4194304"], {}).maxEventBytes, 4194304);
  // Not given, it never exceeds a smaller message limit.
  assert.is(parseServeConfig([...base, "--max-message-bytes", "65536"], {}).maxEventBytes, 65536);
  const refused: [string[], Record<string, string>, RegExp][] = [
    [
      [...base, "--max-event-bytes", "4194305"],
      {},
      /^--max-event-bytes: must be at most --max-message-bytes \(4194304\)/,
    ],
    [
      [...base, "--max-message-bytes", "65536"],
      { SESSION_EVENTS_MAX_EVENT_BYTES: "65537" },
      /^SESSION_EVENTS_MAX_EVENT_BYTES: must be at most --max-message-bytes \(65536\)/,
    ],
    [[...base, "--max-event-bytes", "12"], {}, /^--max-event-bytes: must be an integer from 1024/],
  ];
  for (const [args, env, message] of refused) {
    assert.throws(
      () => parseServeConfig(args, env),
      (e: Error) => e instanceof UsageError && message.test(e.message),
    );
  }
});

test("unary: an event over the limit is RESOURCE_EXHAUSTED naming the field and the limit; one at the limit is stored", async () => {
  const server = await startTestServer({ maxEventBytes: 8192, maxMessageBytes: 65536 });
  const client = clientFor(server.target);
  try {
    const ok = await call<unknown, EmitSessionStartResponse>(client, "emitSessionStart", { event: startOfSize(8192) });
    assert.is(ok.status, "created");

    let e: ServiceError = await rejection(call(client, "emitSessionStart", { event: startOfSize(8193) }));
    assert.is(e.code, status.RESOURCE_EXHAUSTED);
    assert.is(e.details, "event: is 8193 bytes; an event may be at most 8192 bytes (--max-event-bytes)");
    assert.equal(
      fieldViolations(e).map((v) => [v.field, v.reason]),
      [["event", "MAX_EVENT_BYTES"]],
    );

    const end = (bytes: number) => {
      const json = { ...validEnd(), session_id: ok.sessionId, timestamp: "2026-02-06T13:45:07Z", metadata: {} };
      const pad = bytes - bridges.SessionEndEvent.toBinary(json).length - 16;
      for (let p = pad; p < pad + 32; p++) {
        const candidate = { ...json, metadata: { pad: "x".repeat(p) } };
        if (bridges.SessionEndEvent.toBinary(candidate).length === bytes)
          return bridges.SessionEndEvent.fromJson(candidate);
      }
      throw new Error(`no end event of ${bytes} bytes`);
    };
    e = await rejection(call(client, "emitSessionEnd", { event: end(9000) }));
    assert.is(e.code, status.RESOURCE_EXHAUSTED);
    assert.match(e.details, /^event: is 9000 bytes; an event may be at most 8192 bytes/);
    assert.is(
      (await call<unknown, { status: string }>(client, "emitSessionEnd", { event: end(8192) })).status,
      "ended",
    );
    assert.is(server.collector.sessionCount, 1);

    // Over the transport's limit it is still grpc-js that refuses, before anything of ours.
    e = await rejection(call(client, "emitSessionStart", { event: startOfSize(70000) }));
    assert.is(e.code, status.RESOURCE_EXHAUSTED);
    assert.not.match(e.details, /--max-event-bytes/);
  } finally {
    client.close();
    await server.shutdown(0);
  }
});

test("StreamEvents: an event between the event limit and the transport limit gets a Rejection; the events behind it are answered", async () => {
  const server = await startTestServer({ maxEventBytes: 8192, maxMessageBytes: 65536 });
  try {
    let t = 1_760_000_000_000;
    const vrp = (bytes?: number) => {
      const json = { ...validVrp(), ts_ms: t++, event_type: "MUTATION_TICK" };
      return bridges.VrpEvent.fromJson(bytes === undefined ? json : vrpEventOfSize(bytes, json));
    };
    // Without a producer_id: a Rejection's index is the position in the stream.
    let answers = describeAnswers(
      await rawStream(
        server.target,
        [vrp(), vrp(8193), vrp(), vrp(8192), vrp(60000), vrp()].map((event) =>
          StreamEventsRequest.fromPartial({ event }),
        ),
      ),
    );
    assert.equal(answers.slice(0, 1), ["ack"]);
    assert.equal(
      answers[1],
      "rejected #1: event: is 8193 bytes; an event may be at most 8192 bytes (--max-event-bytes)",
    );
    assert.equal(answers.slice(2, 4), ["ack", "ack"]);
    assert.match(answers[4]!, /^rejected #4: event: is 60000 bytes/);
    assert.equal(answers.slice(5), ["ack"]);

    // With one: its producer_sequence, read without decoding the event.
    answers = describeAnswers(
      await rawStream(server.target, [
        StreamEventsRequest.fromPartial({ event: vrp(), producerId: "edge-1", producerSequence: 1n }),
        StreamEventsRequest.fromPartial({ event: vrp(20000), producerId: "edge-1", producerSequence: 2n }),
        StreamEventsRequest.fromPartial({ event: vrp(), producerId: "edge-1", producerSequence: 3n }),
      ]),
    );
    assert.equal(answers[0], "ack");
    assert.match(answers[1]!, /^rejected #2: event: is 20000 bytes/);
    // The oversized event consumed its number, like any refusal: the next one is judged on its own, no gap.
    assert.equal(answers[2], "ack");
  } finally {
    await server.shutdown(0);
  }
});

test("three clients sending max-size events (and oversized 2 MB ones) while a fourth makes small calls: every call is answered", async () => {
  const server = await startTestServer(); // the defaults: 256 KiB events, 4 MiB messages
  const senders = [0, 1, 2].map(() => clientFor(server.target));
  const prober = clientFor(server.target);
  const max = () => startOfSize(262144);
  const tooBig = bridges.SessionStartEvent.fromJson(sessionStartOfSize(2_000_000, validStart()));
  try {
    let sending = true;
    const outcomes: string[] = [];
    const load = senders.map(async (client, i) => {
      for (let n = 0; sending && n < 40; n++) {
        const event = n % 5 === 4 ? { ...tooBig, eventId: randomUUID() } : max();
        try {
          outcomes.push(
            (
              await call<unknown, EmitSessionStartResponse>(
                client,
                "emitSessionStart",
                { event },
                { deadlineMs: 60_000 },
              )
            ).status,
          );
        } catch (e) {
          outcomes.push(`${i}: ${status[(e as ServiceError).code]}`);
        }
      }
    });
    const answered: string[] = [];
    for (let n = 0; n < 40; n++)
      answered.push(
        (
          await call<unknown, EmitSessionStartResponse>(
            prober,
            "emitSessionStart",
            { event: small() },
            { deadlineMs: 60_000 },
          )
        ).status,
      );
    sending = false;
    await Promise.all(load);
    assert.equal(answered, Array(40).fill("created"));
    assert.ok(outcomes.includes("created"), outcomes.join(", "));
    assert.ok(
      outcomes.every((o) => o === "created" || o.endsWith(": RESOURCE_EXHAUSTED")),
      outcomes.join(", "),
    );
  } finally {
    for (const c of [...senders, prober]) c.close();
    await server.shutdown(0);
  }
});

test.run();
