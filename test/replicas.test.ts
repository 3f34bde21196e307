/**
 * Collector replicas on a 3-node JetStream cluster (R3 streams), each a real
 * `session-events serve --engine jetstream` process: read-your-writes on any
 * replica, idempotent starts under races across replicas, the VRP state
 * machine serialised across replicas (the table's outcomes exactly once,
 * Subscribe identical everywhere), producers resuming on another replica.
 */
import { randomUUID } from "node:crypto";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bridges } from "../src/bridge/index.js";
import { VrpProducer, subscribeVrp } from "../src/client/vrp.js";
import type { VrpEventJson } from "../src/contract/types.js";
import {
  ListSessionsRequest,
  SessionStatus,
  type EmitSessionStartResponse,
  type GetSessionResponse,
  type ListSessionsResponse,
} from "../gen/oneiric/session/v1/session_service.js";
import { call, clientFor } from "./support/collector.js";
import { validEnd, validStart } from "./support/fixtures.js";
import { NatsCluster } from "./support/nats-cluster.js";
import { replicaArgs } from "./support/replica-set.js";
import { tempDir } from "./support/repo.js";
import { startServeProcess, type ServeProcess } from "./support/serve-process.js";
import { sessionLifecycle } from "./support/fixtures.js";

let cluster: NatsCluster;
let replicas: ServeProcess[] = [];
const targets = () => replicas.map((r) => `127.0.0.1:${r.port}`);

test.before(async () => {
  cluster = await NatsCluster.start({ nodes: 3 });
  const prefix = "replicas";
  replicas = await Promise.all(
    [1, 2, 3].map((i) => startServeProcess(replicaArgs(cluster, prefix, tempDir(`replica-${i}-`)))),
  );
});
test.after(async () => {
  for (const r of replicas) r.child.kill("SIGTERM");
  await Promise.all(replicas.map((r) => r.exited));
  await cluster?.destroy();
});

const startEvent = (component = "replicas") =>
  bridges.SessionStartEvent.fromJson({ ...validStart(), event_id: randomUUID(), component_name: component });

test("read-your-writes: a session started on one replica is read, ended and listed on the others at once", async () => {
  const [a, b, c] = targets().map((t) => clientFor(t));
  for (let i = 0; i < 20; i++) {
    const component = `ryw-${i}`;
    const s = await call<unknown, EmitSessionStartResponse>(a!, "emitSessionStart", { event: startEvent(component) });
    const got = await call<unknown, GetSessionResponse>(b!, "getSession", { sessionId: s.sessionId });
    assert.is(got.session!.sessionId, s.sessionId);
    const end = await call<unknown, { status: string }>(c!, "emitSessionEnd", {
      event: bridges.SessionEndEvent.fromJson({ ...validEnd(), session_id: s.sessionId }),
    });
    assert.is(end.status, "ended");
    const ended = await call<unknown, GetSessionResponse>(a!, "getSession", { sessionId: s.sessionId });
    assert.is(ended.session!.status, SessionStatus.SESSION_STATUS_ENDED);
    const listed = await call<unknown, ListSessionsResponse>(
      b!,
      "listSessions",
      ListSessionsRequest.fromPartial({ componentName: component }),
    );
    assert.equal(
      listed.sessions.map((x) => x.sessionId),
      [s.sessionId],
    );
  }
  for (const client of [a, b, c]) client!.close();
});

test("races: the same 300 starts sent at once to all three replicas get one session id each; 1,500 more are all distinct", async () => {
  const clients = targets().map((t) => clientFor(t));
  const events = Array.from({ length: 300 }, () => startEvent("race"));
  const answers = await Promise.all(
    events.flatMap((event) =>
      clients.map((client) =>
        call<unknown, EmitSessionStartResponse>(client, "emitSessionStart", { event }, { deadlineMs: 30_000 }),
      ),
    ),
  );
  for (let i = 0; i < events.length; i++) {
    const three = answers.slice(i * 3, i * 3 + 3);
    assert.is(new Set(three.map((a) => a.sessionId)).size, 1, `event ${i}: ${JSON.stringify(three)}`);
    assert.is(three.filter((a) => a.status === "created").length, 1, `event ${i}: one "created"`);
  }
  const more = await Promise.all(
    Array.from({ length: 1500 }, (_, i) =>
      call<unknown, EmitSessionStartResponse>(
        clients[i % 3]!,
        "emitSessionStart",
        { event: startEvent("more") },
        { deadlineMs: 30_000 },
      ),
    ),
  );
  const ids = new Set([...answers.map((a) => a.sessionId), ...more.map((a) => a.sessionId)]);
  assert.is(ids.size, 300 + 1500);
  // Every replica reads every one of them, with the same id.
  for (const client of clients) {
    for (const i of [0, 299]) {
      const got = await call<unknown, GetSessionResponse>(client, "getSession", {
        sessionId: answers[i * 3]!.sessionId,
      });
      assert.is(got.session!.start!.eventId, events[i]!.eventId);
    }
    client.close();
  }
});

let clock = 1_770_000_000_000;
const ev = (event_type: string, session_id: string, details?: Record<string, unknown>): VrpEventJson => ({
  ts_ms: (clock += 1000),
  event_type,
  session_id,
  ...(details ? { details: details as VrpEventJson["details"] } : {}),
});

test("VRP across replicas: one session's events sent to each replica in turn give the table's outcomes once; Subscribe is identical on every replica", async () => {
  const s = `across-${randomUUID()}`;
  const producers = targets().map((target) => new VrpProducer({ target }));
  const events = sessionLifecycle(ev, s);
  const acks = [];
  for (const [i, e] of events.entries()) acks.push(await producers[i % 3]!.send(e));
  await Promise.all(producers.map((p) => p.close()));
  const seen = await Promise.all(
    targets().map(async (target) => {
      const out: string[] = [];
      for await (const { sequence, event, derived } of subscribeVrp({ target, sessionId: s })) {
        out.push(
          `${sequence} ${derived ? "derived" : "event"} ${event.event_type} ${event.reason_code ?? ""} ${JSON.stringify(event.details ?? {})}`,
        );
        if (out.length === events.length * 2) break;
      }
      return out;
    }),
  );
  assert.equal(seen[1], seen[0], "replica 2 sees what replica 1 sees");
  assert.equal(seen[2], seen[0], "replica 3 sees what replica 1 sees");
  const changes = seen[0]!.filter((line) => line.includes(" derived STATE_CHANGE "));
  assert.equal(
    changes.map((line) => {
      const details = JSON.parse(line.slice(line.indexOf("{"))) as Record<string, unknown>;
      return `${details.from_state}->${details.to_state}`;
    }),
    [
      "NONE->BIRTH",
      "BIRTH->ATTACHED",
      "ATTACHED->VOLATILE",
      "VOLATILE->DEGRADED",
      "DEGRADED->RECOVERING",
      "RECOVERING->ATTACHED",
      "ATTACHED->VOLATILE",
      "VOLATILE->ATTACHED",
      "ATTACHED->TERMINATED",
    ],
    "each transition exactly once, in order",
  );
  // Each outcome names its cause's position: the position every replica gives it.
  for (const [i, ack] of acks.entries()) {
    const caused = seen[0]!.filter((line) => line.startsWith(`${ack.sequence} derived`));
    assert.is(caused.length, 1, `event ${i} caused one change`);
    assert.match(caused[0]!, `"cause_sequence":${ack.sequence}`);
  }
});

test("VRP races: two replicas write one session at once; outcomes follow the log's order, none twice", async () => {
  const s = `race-${randomUUID()}`;
  const [p1, p2] = targets().map((target) => new VrpProducer({ target }));
  await p1!.send(ev("SESSION_CREATED", s));
  // 40 ticks from each replica at once: observations, each decided on the state its predecessor left.
  await Promise.all([
    ...Array.from({ length: 40 }, (_, i) => p1!.send(ev("MUTATION_TICK", s, { from: 1, i }))),
    ...Array.from({ length: 40 }, (_, i) => p2!.send(ev("MUTATION_TICK", s, { from: 2, i }))),
    p2!.send(ev("SESSION_CREATED", s)), // a second birth, wherever the log puts it, is audited once
  ]);
  await Promise.all([p1!.close(), p2!.close()]);
  const seen = await Promise.all(
    targets().map(async (target) => {
      const out: string[] = [];
      for await (const { sequence, event, derived } of subscribeVrp({ target, sessionId: s })) {
        out.push(`${sequence} ${derived} ${event.event_type} ${event.reason_code ?? ""}`);
        if (out.length === 1 + 1 + 80 + 1 + 1) break; // birth + its change, ticks, second birth + its audit
      }
      return out;
    }),
  );
  assert.equal(seen[1], seen[0]);
  assert.equal(seen[2], seen[0]);
  assert.is(seen[0]!.filter((l) => l.includes("STATE_CHANGE")).length, 1, "one birth");
  assert.is(seen[0]!.filter((l) => l.includes("AUDIT_EVENT")).length, 1, "the second birth audited once");
});

test("a producer resumes on another replica where it stopped: its numbering and resends come from the shared log", async () => {
  const producerId = `edge-${randomUUID()}`;
  const s = `resume-${randomUUID()}`;
  const first = new VrpProducer({ target: targets()[0]!, producerId });
  await first.send(ev("SESSION_CREATED", s));
  const acks = [];
  for (let i = 0; i < 5; i++) acks.push(await first.send(ev("MUTATION_TICK", s, { i })));
  await first.close();
  const second = new VrpProducer({ target: targets()[1]!, producerId });
  assert.is(await second.handshake(), 6n, "replica 2 knows the producer's last number");
  const next = await second.send(ev("MUTATION_TICK", s, { i: 5 }));
  assert.is(next.producerSequence, 7n);
  assert.ok(next.sequence > acks.at(-1)!.sequence);
  await second.close();
});

test.run();
