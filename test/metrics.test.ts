/**
 * `serve --metrics-address`: the Prometheus endpoint, scraped while a load
 * runs (session calls, refusals, a VRP stream, a subscriber that stops
 * reading), and checked against what the load did.
 */
import { credentials } from "@grpc/grpc-js";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { SessionEndEvent, SessionStartEvent } from "../src/session/models.js";
import { bridges } from "../src/bridge/index.js";
import { VrpProducer, subscribeVrp } from "../src/client/vrp.js";
import {
  EmitSessionEndRequest,
  EmitSessionStartRequest,
  type EmitSessionEndResponse,
  type EmitSessionStartResponse,
} from "../gen/oneiric/session/v1/session_service.js";
import { SubscribeRequest, VrpStreamServiceClient } from "../gen/vrp/v1alpha1/vrp_service.js";
import { call, clientFor, rejection, startTestServer } from "./support/collector.js";

/** One scrape: every sample by its name and labels, e.g. `x_total{a="1",b="2"}` (labels sorted). */
type Samples = Map<string, number>;

function parse(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = (m[2] ?? "").match(/\w+="(?:[^"\\]|\\.)*"/g) ?? [];
    samples.set(`${m[1]}{${labels.sort().join(",")}}`, Number(m[3]));
  }
  return samples;
}

const key = (name: string, labels: Record<string, string> = {}) =>
  `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(",")}}`;

// A checkpoint every 5 records, so that the load makes some.
const server = await startTestServer({ metricsAddress: "127.0.0.1:0", checkpointRecords: 5 });
const scrapeUrl = `http://127.0.0.1:${server.metricsPort}/metrics`;

async function scrape(): Promise<Samples> {
  const response = await fetch(scrapeUrl);
  assert.is(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return parse(await response.text());
}

const value = (s: Samples, name: string, labels: Record<string, string> = {}) => s.get(key(name, labels)) ?? 0;

const SESSION = { grpc_service: "oneiric.session.v1.SessionService", grpc_type: "unary" };
const STARTS = 20;
const ENDS = 10;

/** The load: starts, ends, a repeated end, a refused start, and VRP events (one of a type nobody knows). */
async function load(): Promise<void> {
  const client = clientFor(server.target);
  const ids: string[] = [];
  for (let i = 0; i < STARTS; i++) {
    const event = bridges.SessionStartEvent.fromJson(
      SessionStartEvent.create({ componentName: "metrics-test", shellType: "Shell" }),
    );
    ids.push(
      (
        await call<EmitSessionStartRequest, EmitSessionStartResponse>(
          client,
          "emitSessionStart",
          EmitSessionStartRequest.fromPartial({ event }),
        )
      ).sessionId,
    );
  }
  for (const id of ids.slice(0, ENDS)) {
    const event = bridges.SessionEndEvent.fromJson(SessionEndEvent.create({ sessionId: id }));
    await call<EmitSessionEndRequest, EmitSessionEndResponse>(
      client,
      "emitSessionEnd",
      EmitSessionEndRequest.fromPartial({ event }),
    );
  }
  const again = bridges.SessionEndEvent.fromJson(SessionEndEvent.create({ sessionId: ids[0]! }));
  assert.is(
    (
      await call<EmitSessionEndRequest, EmitSessionEndResponse>(
        client,
        "emitSessionEnd",
        EmitSessionEndRequest.fromPartial({ event: again }),
      )
    ).status,
    "duplicate",
  );
  await rejection(call(client, "emitSessionStart", EmitSessionStartRequest.fromPartial({})));
  client.close();

  const producer = new VrpProducer({ target: server.target, producerId: "metrics-test" });
  const t = 1_767_225_600_000;
  await producer.send({ ts_ms: t, event_type: "SESSION_CREATED", session_id: "m-1" });
  await producer.send({
    ts_ms: t + 1,
    event_type: "PATH_SELECTED",
    session_id: "m-1",
    details: { transport_id: "udp/443" },
  });
  await producer.send({ ts_ms: t + 2, event_type: "SOMETHING_NEW", session_id: "m-1" });
  await producer.close();
}

test("counters only grow while a load runs, and end where the load says", async () => {
  // A live subscriber, reading as it should.
  const subscriber = (async () => {
    for await (const { event } of subscribeVrp({ target: server.target, sessionId: "m-1" }))
      if (event.event_type === "SOMETHING_NEW") return;
  })();
  const running = load();
  let done = false;
  void running.finally(() => (done = true));
  const scrapes: Samples[] = [];
  while (!done) scrapes.push(await scrape()); // as fast as it answers, for as long as the load runs
  await running;
  await subscriber;
  scrapes.push(await scrape());
  assert.ok(scrapes.length >= 2, `${scrapes.length} scrapes`);

  const counters = [
    key("grpc_server_handled_total", { ...SESSION, grpc_method: "EmitSessionStart", grpc_code: "OK" }),
    key("session_events_events_stored_total", { family: "session", type: "SessionStartEvent", origin: "client" }),
    key("session_events_log_appended_records_total"),
    key("session_events_log_fsyncs_total"),
  ];
  for (const [i, s] of scrapes.slice(1).entries()) {
    for (const k of counters)
      assert.ok((s.get(k) ?? 0) >= (scrapes[i]!.get(k) ?? 0), `${k} went down between scrapes ${i} and ${i + 1}`);
  }

  const last = scrapes.at(-1)!;
  assert.is(value(last, "grpc_server_started_total", { ...SESSION, grpc_method: "EmitSessionStart" }), STARTS + 1);
  assert.is(
    value(last, "grpc_server_handled_total", { ...SESSION, grpc_method: "EmitSessionStart", grpc_code: "OK" }),
    STARTS,
  );
  assert.is(
    value(last, "grpc_server_handled_total", {
      ...SESSION,
      grpc_method: "EmitSessionStart",
      grpc_code: "INVALID_ARGUMENT",
    }),
    1,
  );
  assert.is(
    value(last, "grpc_server_handled_total", { ...SESSION, grpc_method: "EmitSessionEnd", grpc_code: "OK" }),
    ENDS + 1,
  );
  assert.is(
    value(last, "grpc_server_handling_seconds_count", { ...SESSION, grpc_method: "EmitSessionStart" }),
    STARTS + 1,
  );

  // Stored: the repeated end was answered, not stored; the unknown VRP type is "other".
  const stored = (family: string, type: string, origin = "client") =>
    value(last, "session_events_events_stored_total", { family, type, origin });
  assert.is(stored("session", "SessionStartEvent"), STARTS);
  assert.is(stored("session", "SessionEndEvent"), ENDS);
  assert.is(stored("vrp", "SESSION_CREATED"), 1);
  assert.is(stored("vrp", "PATH_SELECTED"), 1);
  assert.is(stored("vrp", "other"), 1);
  assert.is(stored("vrp", "STATE_CHANGE", "derived"), 2); // BIRTH, then ATTACHED
  assert.is(value(last, "session_events_sessions_open"), STARTS - ENDS);

  // The log: every stored record went through an fsync'ed batch, and the histograms agree with the counters.
  const appended = value(last, "session_events_log_appended_records_total");
  const fsyncs = value(last, "session_events_log_fsyncs_total");
  assert.ok(appended >= STARTS + ENDS + 5, `${appended} records appended`);
  // Every record of the (new) log was counted, the policy record written at start among them.
  assert.is(appended, Number(server.log.lastSequence), "records counted, against the log's last position");
  assert.ok(fsyncs >= 1 && fsyncs <= appended, `${fsyncs} fsyncs`);
  // Some of them on the event loop (lone appends), unless a write was slow: counted among the fsyncs.
  assert.ok(last.has(key("session_events_log_fsyncs_on_event_loop_total")), "the writes on the event loop are counted");
  const onLoop = value(last, "session_events_log_fsyncs_on_event_loop_total");
  assert.ok(onLoop >= 0 && onLoop <= fsyncs, `${onLoop} of ${fsyncs} fsyncs on the event loop`);
  assert.is(value(last, "session_events_log_batch_records_count"), fsyncs);
  assert.is(value(last, "session_events_log_batch_records_sum"), appended);
  assert.is(value(last, "session_events_log_fsync_seconds_count"), fsyncs);
  assert.ok(value(last, "session_events_log_fsync_seconds_sum") > 0);
  assert.ok(last.has(key("session_events_process_resident_memory_bytes")), "process metrics are there too");
  // The state store checkpointed under the load, each covering a log position no later than what was appended.
  assert.ok(value(last, "session_events_checkpoints_total") >= 1, "checkpoints counted");
  const covered = value(last, "session_events_checkpoint_sequence");
  assert.ok(covered >= 5 && covered <= appended, `checkpoint covers ${covered} of ${appended}`);
});

test("a subscriber that stops reading is counted, held back, and behind; once it reads, it catches up", async () => {
  const client = new VrpStreamServiceClient(server.target, credentials.createInsecure());
  const stream = client.subscribe(SubscribeRequest.fromPartial({ sessionId: "lag-1" }));
  let received = 0;
  stream.on("data", () => received++);
  stream.on("error", () => {});
  stream.pause(); // reads nothing: the server's writes fill the stream's windows and wait

  const producer = new VrpProducer({ target: server.target, producerId: "lag-test" });
  const padding = "x".repeat(2000);
  const t = 1_767_225_700_000;
  const events = 1500; // ~3 MB: far more than HTTP/2 flow control and socket buffers hold
  const sent: Promise<unknown>[] = [];
  for (let i = 0; i < events; i++)
    sent.push(producer.send({ ts_ms: t + i, event_type: "MUTATION_TICK", session_id: "lag-1", details: { padding } }));
  await Promise.all(sent);
  await producer.close();

  const deadline = Date.now() + 20_000;
  let s = await scrape();
  while (value(s, "session_events_streams_held_back", { rpc: "Subscribe" }) < 1 && Date.now() < deadline)
    s = await scrape();
  assert.is(
    value(s, "session_events_streams_held_back", { rpc: "Subscribe" }),
    1,
    "the paused subscriber is held back",
  );
  assert.is(value(s, "session_events_subscribers"), 1);
  assert.ok(value(s, "session_events_subscriber_lag_records", { stat: "max" }) > 0, "and behind");

  stream.resume();
  while (received < events && Date.now() < deadline) await new Promise((r) => stream.once("data", r));
  assert.is(received, events);
  s = await scrape();
  const caughtUp = (x: Samples) =>
    value(x, "session_events_streams_held_back", { rpc: "Subscribe" }) === 0 &&
    value(x, "session_events_subscriber_lag_records", { stat: "max" }) === 0;
  while (!caughtUp(s) && Date.now() < deadline) s = await scrape();
  assert.is(value(s, "session_events_streams_held_back", { rpc: "Subscribe" }), 0);
  assert.is(value(s, "session_events_subscriber_lag_records", { stat: "max" }), 0);
  stream.cancel();
  client.close();
  while (value(s, "session_events_subscribers") > 0 && Date.now() < deadline) s = await scrape();
  assert.is(value(s, "session_events_subscribers"), 0, "a cancelled subscriber is gone");
});

test("only GET /metrics answers", async () => {
  const response = await fetch(`http://127.0.0.1:${server.metricsPort}/other`);
  assert.is(response.status, 404);
  await response.text();
});

test("retention's first pass, which starts with the server, is counted like the later ones", async () => {
  const own = await startTestServer({
    metricsAddress: "127.0.0.1:0",
    // A limit the log is far below: each pass is "done" having removed nothing. The next timed pass is an hour away.
    retention: { maxAgeMs: undefined, maxBytes: 2 ** 30, archiveDir: undefined, intervalMs: 3_600_000 },
  });
  try {
    await own.retention!.runNow(); // runs after the first pass: both are over
    const response = await fetch(`http://127.0.0.1:${own.metricsPort}/metrics`);
    const samples = parse(await response.text());
    assert.is(
      value(samples, "session_events_retention_passes_total", { outcome: "done" }),
      2,
      "the first pass and runNow's",
    );
  } finally {
    await own.shutdown(1000);
  }
});

test.after(() => server.shutdown(1000));

test.run();
