/** VRP streams end to end: a real collector on loopback, real files, the client helpers. */
import http2 from "node:http2";
import type { ServiceError } from "@grpc/grpc-js";
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { VrpEventJson } from "../src/contract/types.js";
import { KNOWN_VRP_EVENT_TYPES } from "../src/contract/vrp-vocabulary.js";
import { VrpProducer, VrpRejectedError, subscribeVrp } from "../src/client/vrp.js";
import { SessionEventsError } from "../src/errors.js";
import { openDerived } from "./support/derived-state.js";
import { SegmentLog } from "../src/store/segment-log.js";
import { VrpHub, vrpEventOf } from "../src/collector/vrp-hub.js";
import { bridges } from "../src/bridge/index.js";
import { LogEntry } from "../gen/sessionevents/log/v1/log_entry.js";
import { StreamEventsRequest } from "../gen/vrp/v1alpha1/vrp_service.js";
import { fileEngineOnly, startTestServer } from "./support/collector.js";
import { rawStream } from "./support/raw-stream.js";
import { tempDir } from "./support/repo.js";
import { sessionLifecycle } from "./support/fixtures.js";

let clock = 1_760_000_000_000;
const ev = (event_type: string, session_id: string, details?: Record<string, unknown>, dt = 1000): VrpEventJson => ({
  ts_ms: (clock += dt),
  event_type,
  session_id,
  ...(details ? { details: details as VrpEventJson["details"] } : {}),
});

/** The first n items, or a clear failure after 30 s (never a hung test). */
async function take<T>(iterable: AsyncIterable<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  const reading = (async () => {
    if (n === 0) return out;
    for await (const item of iterable) {
      out.push(item);
      if (out.length === n) break;
    }
    return out;
  })();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`got ${out.length} of ${n} items in 30 s`)), 30_000)),
  );
  try {
    return await Promise.race([reading, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Every VRP event in the log, with its sequence. */
async function logEvents(dataDir: string): Promise<{ sequence: bigint; event: VrpEventJson; derived: boolean }[]> {
  const log = await SegmentLog.open({ dir: dataDir, readOnly: true }); // the server may still hold it
  const out = [];
  for await (const r of log.read()) {
    const entry = LogEntry.decode(r.payload);
    const event = vrpEventOf(entry);
    if (event)
      out.push({
        sequence: r.sequence,
        event: bridges.VrpEvent.toJson(event),
        derived: entry.entry?.$case === "vrpDerived",
      });
  }
  await log.close();
  return out;
}

fileEngineOnly(
  "a whole life cycle over the stream: acks with log sequences, state changes answered on the same call",
  async () => {
    const server = await startTestServer();
    const producer = new VrpProducer({ target: server.target });
    const derived = producer.derived();
    const s = "life-1";
    const events = sessionLifecycle(ev, s);
    const acks = await Promise.all(events.map((e) => producer.send(e)));
    const sequences = acks.map((a) => a.sequence);
    assert.equal(
      [...sequences].sort((a, b) => (a < b ? -1 : 1)),
      sequences,
      "acks in order",
    );
    const changes = await take(derived, 9);
    assert.equal(
      changes.map((c) => `${c.details!.from_state}->${c.details!.to_state} ${c.reason_code}`),
      [
        "NONE->BIRTH SESSION_BORN",
        "BIRTH->ATTACHED PATH_BOUND",
        "ATTACHED->VOLATILE INSTABILITY_DETECTED",
        "VOLATILE->DEGRADED INSTABILITY_PERSISTED",
        "DEGRADED->RECOVERING STABILITY_WINDOW_OPENED",
        "RECOVERING->ATTACHED RECOVERED",
        "ATTACHED->VOLATILE INSTABILITY_DETECTED",
        "VOLATILE->ATTACHED PATH_REATTACHED",
        "ATTACHED->TERMINATED TERMINATED",
      ],
    );
    assert.is(server.vrp.machine.session(s)!.state, "TERMINATED");
    await producer.close();
    await server.shutdown(1000);
    // The log holds each event, each followed by what it caused.
    const stored = await logEvents(server.dataDir);
    assert.is(stored.filter((e) => !e.derived).length, 9);
    assert.is(stored.filter((e) => e.derived).length, 9);
  },
);

test("each invariant violated once answers its own AUDIT_EVENT, and the stream goes on", async () => {
  const server = await startTestServer({ maxSwitchesPerMinute: 1, maxRecoveryWindowMs: 5000 });
  const producer = new VrpProducer({ target: server.target });
  const derived = producer.derived();
  const a = "inv-a";
  const b = "inv-b";
  const script: VrpEventJson[] = [
    ev("SESSION_CREATED", a),
    ev("PATH_SELECTED", a, { transport_id: "t1" }),
    ev("SESSION_CREATED", b),
    ev("PATH_SELECTED", b, { transport_id: "t9" }),
    ev("PATH_SELECTED", a, { transport_ids: ["t2", "t3"] }), // MULTIPLE_ACTIVE_TRANSPORTS
    ev("PATH_SELECTED", a, { transport_id: "t2" }), // DUAL_ACTIVE_BINDING
    ev("PATH_SELECTED", b, { transport_id: "t1", replaces: "t9" }), // SESSION_ID_CHANGED_ON_REATTACH
    ev("PATH_SELECTED", a, { transport_id: "t2", replaces: "t1" }, 1), // a switch
    ev("PATH_SELECTED", a, { transport_id: "t3", replaces: "t2" }, 1), // SWITCH_RATE_EXCEEDED
    ev("VOLATILITY_SIGNAL", a),
    ev("MUTATION_TICK", a, undefined, 6000), // RECOVERY_WINDOW_EXCEEDED
    ev("RECOVERY_SIGNAL", b), // TRANSITION_NOT_ALLOWED
    ev("PATH_SELECTED", "ghost", { transport_id: "t7" }), // SESSION_NOT_CREATED
  ];
  await Promise.all(script.map((e) => producer.send(e)));
  const audits = (await take(derived, 13)).filter((d) => d.event_type === "AUDIT_EVENT").map((d) => d.reason_code);
  assert.equal(audits, [
    "MULTIPLE_ACTIVE_TRANSPORTS",
    "DUAL_ACTIVE_BINDING",
    "SESSION_ID_CHANGED_ON_REATTACH",
    "SWITCH_RATE_EXCEEDED",
    "RECOVERY_WINDOW_EXCEEDED",
    "TRANSITION_NOT_ALLOWED",
    "SESSION_NOT_CREATED",
  ]);
  await producer.close();
  await server.shutdown(1000);
});

test("invalid events mid-stream are refused one by one; the stream stays open", async () => {
  const server = await startTestServer();
  const good = bridges.VrpEvent.fromJson(ev("QUANTUM_FLUX", "mid"));
  const answers = await rawStream(server.target, [
    StreamEventsRequest.fromPartial({ event: good }),
    StreamEventsRequest.fromPartial({ event: { ...good, tsMs: -1n } }),
    StreamEventsRequest.fromPartial({ event: { ...good, eventType: "" } }),
    StreamEventsRequest.fromPartial({}),
    StreamEventsRequest.fromPartial({ event: { ...good, details: { ["__proto__"]: 1 } } }),
    StreamEventsRequest.fromPartial({ event: good }),
  ]);
  const summary = answers.map((r) =>
    r.kind?.$case === "ack"
      ? `ack ${r.kind.value.acceptedCount}`
      : r.kind?.$case === "rejection"
        ? `rejected #${r.kind.value.index}`
        : r.kind?.$case,
  );
  assert.equal(summary, ["ack 1", "rejected #1", "rejected #2", "rejected #3", "rejected #4", "ack 2"]);
  const reasons = answers.flatMap((r) => (r.kind?.$case === "rejection" ? [r.kind.value.reason] : []));
  assert.match(reasons[0]!, /\/ts_ms: must be >= 0 \[minimum\]/);
  assert.match(reasons[1]!, /\/event_type: .*\[minLength\]/);
  assert.match(reasons[2]!, /\/event: is required/);
  assert.match(reasons[3]!, /__proto__.*\[forbidden_key\]/);
  // The same, structured: a code and one field violation per problem, paths from the request.
  const rejections = answers.flatMap((r) => (r.kind?.$case === "rejection" ? [r.kind.value] : []));
  assert.equal(
    rejections.map((r) => r.code),
    ["INVALID_ARGUMENT", "INVALID_ARGUMENT", "INVALID_ARGUMENT", "INVALID_ARGUMENT"],
  );
  assert.equal(rejections[0]!.fieldViolations, [{ path: "/event/ts_ms", rule: "minimum", message: "must be >= 0" }]);
  assert.equal(
    rejections[2]!.fieldViolations.map((v) => `${v.path} ${v.rule}`),
    ["/event required"],
  );
  await server.shutdown(1000);
});

test("a refusal reaches the producer as a VrpRejectedError with the code and each field's issue", async () => {
  const server = await startTestServer({ maxEventBytes: 1024 });
  const producer = new VrpProducer({ target: server.target });
  const e = await producer.send(ev("MUTATION_TICK", "big", { blob: "x".repeat(4000) })).then(
    () => undefined,
    (err: unknown) => err,
  );
  assert.instance(e, VrpRejectedError);
  assert.instance(e, SessionEventsError);
  const rejected = e as VrpRejectedError;
  assert.is(rejected.code, "RESOURCE_EXHAUSTED");
  assert.equal(
    rejected.issues.map((i) => `${i.path} ${i.rule}`),
    ["/event max_event_bytes"],
  );
  assert.is(rejected.producerSequence, 1n);
  await producer.close();
  await server.shutdown(1000);
});

fileEngineOnly(
  "a producer restarted with the same id goes on numbering; gaps are refused; a resend is acked where it was stored",
  async () => {
    const server = await startTestServer();
    const s = "restart-producer";
    const a = new VrpProducer({ target: server.target, producerId: "edge-7" });
    const createdJson = ev("SESSION_CREATED", s);
    const first = await a.send(createdJson);
    await a.send(ev("MUTATION_TICK", s, { run: "a" }));
    await a.close();
    const b = new VrpProducer({ target: server.target, producerId: "edge-7" }); // a restart: numbering starts over locally
    await b.send(ev("MUTATION_TICK", s, { run: "b" }));
    await b.close();
    const ticks = (await logEvents(server.dataDir))
      .filter((e) => e.event.event_type === "MUTATION_TICK")
      .map((e) => e.event.details!.run);
    assert.equal(ticks, ["a", "b"], "the restarted producer's event is stored, not taken for a duplicate");
    // Raw stream: a gap is refused; a resend is acknowledged with where it was stored; other content under a stored number is a conflict.
    const tick = bridges.VrpEvent.fromJson(ev("MUTATION_TICK", s));
    const created = bridges.VrpEvent.fromJson(createdJson);
    const answers = await rawStream(server.target, [
      StreamEventsRequest.fromPartial({ event: tick, producerId: "edge-7", producerSequence: 9n }), // last is 3: a gap
      StreamEventsRequest.fromPartial({ event: created, producerId: "edge-7", producerSequence: 1n }), // a resend of the first
      StreamEventsRequest.fromPartial({ event: tick, producerId: "edge-7", producerSequence: 1n }), // the first's number, other content
    ]);
    assert.equal(answers[0]!.kind?.$case, "rejection");
    assert.match(
      (answers[0]!.kind as { value: { reason: string } }).value.reason,
      /next expected is 4 \[sequence_gap\]/,
    );
    assert.equal(answers[1]!.kind?.$case, "ack");
    assert.is((answers[1]!.kind as { value: { sequence: bigint } }).value.sequence, first.sequence);
    assert.equal(answers[2]!.kind?.$case, "rejection");
    assert.match(
      (answers[2]!.kind as { value: { reason: string } }).value.reason,
      /already stored at log sequence \d+ with different content \[conflict\]/,
    );
    await server.shutdown(1000);
  },
);

test("a producer's STATE_CHANGE declares a state, judged by the table; subscribers see what was derived", async () => {
  const server = await startTestServer();
  const s = "forge";
  const producer = new VrpProducer({ target: server.target });
  const derived = producer.derived();
  await producer.send(ev("SESSION_CREATED", s));
  await producer.send(ev("PATH_SELECTED", s, { transport_id: "t1" }));
  await producer.send(ev("STATE_CHANGE", s, { from_state: "ATTACHED", to_state: "RECOVERING" })); // no row ATTACHED -> RECOVERING
  await producer.send(ev("PATH_SELECTED", s, { transport_id: "t1" })); // the active one again: nothing happens
  await producer.send(ev("PATH_SELECTED", s, { transport_id: "t2", replaces: "zzz" }));
  const got = (await take(derived, 4)).map((d) => d.reason_code);
  assert.equal(got, ["SESSION_BORN", "PATH_BOUND", "DECLARED_TRANSITION_NOT_ALLOWED", "REPLACED_TRANSPORT_NOT_ACTIVE"]);
  const seen = await take(subscribeVrp({ target: server.target, sessionId: s, eventTypes: ["STATE_CHANGE"] }), 3);
  assert.equal(
    seen.map((x) => x.derived),
    [true, true, false],
  );
  await producer.close();
  await server.shutdown(1000);
});

/**
 * A producer that never reads its answers, on a bare HTTP/2 stream that
 * really stops reading (grpc-js's client does not: a paused call keeps
 * taking answers into its own memory, so the server never feels it).
 */
fileEngineOnly("backpressure: a producer that never reads its answers is held back, not buffered", async () => {
  const server = await startTestServer();
  const session = http2.connect(`http://${server.target}`);
  session.on("error", () => {}); // a reset at the end must not take the test process down
  try {
    const call = session.request({
      ":method": "POST",
      ":path": "/vrp.v1alpha1.VrpStreamService/StreamEvents",
      "content-type": "application/grpc",
      te: "trailers",
    });
    call.pause(); // never read the answers
    call.on("error", () => {});
    const grpcFrame = (request: StreamEventsRequest) => {
      const bytes = StreamEventsRequest.encode(request).finish();
      const frame = Buffer.alloc(5 + bytes.length);
      frame.writeUInt32BE(bytes.length, 1);
      frame.set(bytes, 5);
      return frame;
    };
    // Refused events hold answers too: they must count towards the pause.
    const valid = StreamEventsRequest.fromPartial({
      event: bridges.VrpEvent.fromJson(ev("X_FLOOD", "flood", { pad: "p".repeat(200) })),
    });
    const frames = [
      grpcFrame(valid),
      grpcFrame(StreamEventsRequest.fromPartial({ event: { ...valid.event!, tsMs: -1n } })),
    ];
    const drained = (ms: number) =>
      Promise.race([
        new Promise<boolean>((r) => call.once("drain", () => r(true))),
        new Promise<boolean>((r) => setTimeout(() => r(false), ms)),
      ]);
    // Write as fast as the transport takes it, until it takes nothing for 2 s; without backpressure
    // 100,000 go through in seconds.
    let written = 0;
    let stalled = false;
    while (written < 100_000 && !stalled) {
      if (!call.write(frames[written++ % 2])) stalled = !(await drained(2000));
    }
    assert.ok(stalled, `the producer was never held back (${written} writes)`);
    const stored = (await logEvents(server.dataDir)).length;
    // What it took in is what its answers' transport window and its own WINDOW of unsent answers hold.
    assert.ok(stored < 5_000, `${stored} events taken in while the answers were not read (${written} written)`);
    assert.ok(stored > 0, "events were stored before the pause");
  } finally {
    session.destroy(); // the stream with it: its unread answers are dropped
    await server.shutdown(0);
  }
});

fileEngineOnly("replay then live: a subscription across the seam sees every event once, in order", async () => {
  const server = await startTestServer();
  const producer = new VrpProducer({ target: server.target });
  const s = "seam";
  await Promise.all(
    [ev("SESSION_CREATED", s), ...Array.from({ length: 99 }, () => ev("MUTATION_TICK", s))].map((e) =>
      producer.send(e),
    ),
  );
  const seen = subscribeVrp({ target: server.target, sessionId: s });
  const reading = take(seen, 101 + 100); // 100 events + 1 STATE_CHANGE, then 100 live
  const live = Array.from({ length: 100 }, () => ev("MUTATION_TICK", s));
  for (const e of live) await producer.send(e);
  const got = await reading;
  const sequences = got.map((g) => g.sequence);
  assert.is(new Set(sequences).size, sequences.length, "no duplicates");
  for (let i = 1; i < sequences.length; i++) assert.ok(sequences[i]! > sequences[i - 1]!, "increasing");
  const stored = (await logEventsLive(server.dataDir)).filter((e) => e.event.session_id === s).map((e) => e.sequence);
  assert.equal(sequences, stored, "exactly the log's events for the session");
  // Filtered by type, from a position.
  const ticks = await take(subscribeVrp({ target: server.target, sessionId: s, eventTypes: ["STATE_CHANGE"] }), 1);
  assert.is(ticks[0]!.event.reason_code, "SESSION_BORN");
  await producer.close();
  await server.shutdown(1000);
});

/** The log read while the server still has it open (read-only, durable part). */
async function logEventsLive(dataDir: string) {
  return logEvents(dataDir);
}

test("a slow consumer gets everything, in order, while the producer goes on", async () => {
  const server = await startTestServer();
  const producer = new VrpProducer({ target: server.target });
  const s = "slow";
  await producer.send(ev("SESSION_CREATED", s));
  const sending = (async () => {
    for (let i = 0; i < 1500; i++) await producer.send(ev("MUTATION_TICK", s, { i }));
  })();
  const got: number[] = [];
  for await (const { event } of subscribeVrp({ target: server.target, sessionId: s, eventTypes: ["MUTATION_TICK"] })) {
    got.push(event.details!.i as number);
    if (got.length % 100 === 0) await new Promise((r) => setTimeout(r, 20)); // a slow reader
    if (got.length === 1500) break;
  }
  await sending;
  assert.equal(
    got,
    Array.from({ length: 1500 }, (_, i) => i),
  );
  await producer.close();
  await server.shutdown(1000);
});

fileEngineOnly(
  "a producer reconnects after the collector restarts and resends without loss or duplicates",
  async () => {
    const first = await startTestServer();
    const port = first.port;
    const producer = new VrpProducer({ target: first.target, producerId: "producer-reconnect" });
    const s = "reconnect";
    await producer.send(ev("SESSION_CREATED", s));
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < 300; i++) {
      sends.push(producer.send(ev("MUTATION_TICK", s, { i })));
      if (i === 150) {
        await first.shutdown(0); // cut the stream mid-flight
        void startTestServer({ address: `127.0.0.1:${port}` }, first.dataDir).then((second) => (restarted = second));
      }
    }
    let restarted: Awaited<ReturnType<typeof startTestServer>> | undefined;
    await Promise.all(sends);
    await producer.close();
    await restarted!.shutdown(1000);
    const ticks = (await logEvents(first.dataDir))
      .filter((e) => e.event.event_type === "MUTATION_TICK")
      .map((e) => e.event.details!.i);
    assert.equal(
      ticks,
      Array.from({ length: 300 }, (_, i) => i),
      "every event once, in order",
    );
  },
);

fileEngineOnly(
  "a subscriber whose collector restarts resumes after the last event it saw: nothing lost, nothing twice",
  async () => {
    const first = await startTestServer();
    const port = first.port;
    const s = "resume-sub";
    const producer = new VrpProducer({ target: first.target });
    await producer.send(ev("SESSION_CREATED", s));
    for (let i = 0; i < 50; i++) await producer.send(ev("MUTATION_TICK", s, { i }));
    await producer.close();
    const seen: number[] = [];
    let second: Awaited<ReturnType<typeof startTestServer>> | undefined;
    for await (const { event } of subscribeVrp({ target: first.target, sessionId: s, eventTypes: ["MUTATION_TICK"] })) {
      seen.push(event.details!.i as number);
      if (seen.length === 25) {
        await first.shutdown(0); // the stream breaks here
        second = await startTestServer({ address: `127.0.0.1:${port}` }, first.dataDir);
        const more = new VrpProducer({ target: second.target });
        for (let i = 50; i < 60; i++) await more.send(ev("MUTATION_TICK", s, { i }));
        await more.close();
      }
      if (seen.length === 60) break;
    }
    assert.equal(
      seen,
      Array.from({ length: 60 }, (_, i) => i),
    );
    await second!.shutdown(1000);
  },
);

test("determinism: random sequences through the hub, then a restart from the log, give the same states and audits", async () => {
  const eventArb = fc.record({
    dt: fc.integer({ min: 0, max: 20_000 }),
    type: fc.oneof(fc.constantFrom(...KNOWN_VRP_EVENT_TYPES), fc.constant("X_NEW_TYPE")),
    session: fc.constantFrom("p", "q"),
    transport: fc.constantFrom("a", "b", "c"),
    replaces: fc.option(fc.constantFrom("a", "b", "c"), { nil: undefined }),
  });
  await fc.assert(
    fc.asyncProperty(fc.array(eventArb, { minLength: 1, maxLength: 40 }), async (raw) => {
      let ts = 1_700_000_000_000;
      const events: VrpEventJson[] = raw.map((r) => {
        ts += r.dt;
        const details: Record<string, string> =
          r.type === "PATH_SELECTED"
            ? { transport_id: r.transport, ...(r.replaces ? { replaces: r.replaces } : {}) }
            : r.type === "STATE_CHANGE"
              ? { to_state: "TERMINATED" }
              : {};
        return { ts_ms: ts, event_type: r.type, session_id: r.session, details };
      });
      const dir = tempDir("determinism-");
      const log = await SegmentLog.open({ dir });
      const hub = new VrpHub(log, await openDerived(log, dir));
      const derivedLive: VrpEventJson[] = [];
      for (const e of events) {
        const outcome = hub.accept(bridges.VrpEvent.fromJson(e));
        assert.is(outcome.kind, "accepted");
        if (outcome.kind === "accepted") {
          derivedLive.push(...outcome.derived);
          await outcome.durable;
        }
      }
      const liveSnapshot = hub.machine.snapshot();
      await log.close();
      // Twice: a second hub on the same events; and a restart replaying the log.
      const twiceDir = tempDir("determinism-b-");
      const twiceLog = await SegmentLog.open({ dir: twiceDir });
      const twice = new VrpHub(twiceLog, await openDerived(twiceLog, twiceDir));
      const derivedTwice = events.flatMap((e) => {
        const o = twice.accept(bridges.VrpEvent.fromJson(e));
        return o.kind === "accepted" ? [...o.derived] : [];
      });
      await twiceLog.close();
      const reopened = await SegmentLog.open({ dir });
      const restarted = new VrpHub(reopened, await openDerived(reopened, dir));
      const restartedSnapshot = restarted.machine.snapshot();
      const storedDerived: VrpEventJson[] = [];
      for await (const r of reopened.read()) {
        const entry = LogEntry.decode(r.payload);
        if (entry.entry?.$case === "vrpDerived") storedDerived.push(bridges.VrpEvent.toJson(entry.entry.value.event!));
      }
      await reopened.close();
      assert.equal(derivedTwice.map(stripCause), derivedLive.map(stripCause));
      assert.equal(storedDerived, derivedLive);
      assert.equal(restartedSnapshot, liveSnapshot);
    }),
    { numRuns: 25 },
  );
});

/** cause_sequence is a log position: equal within one log, not across two. */
function stripCause(e: VrpEventJson): VrpEventJson {
  const { cause_sequence: _, ...details } = e.details ?? {};
  return { ...e, details };
}

test("send refuses an invalid event locally, before the wire", async () => {
  const producer = new VrpProducer({ target: "127.0.0.1:1" });
  const e = await producer.send({ ts_ms: -1, event_type: "X", session_id: "s" }).then(
    () => undefined,
    (err: unknown) => err,
  );
  assert.match((e as Error).message, /ts_ms/);
  await producer.close();
  void VrpRejectedError;
  void ({} as ServiceError);
});

test.run();
