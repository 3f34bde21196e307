/**
 * Faults under load on 3 collector replicas (real processes) over a 3-node
 * JetStream cluster (R3): 8 clients start sessions round robin over the
 * replicas, a VRP producer streams; a NATS node is SIGKILLed, then a
 * replica. Clients fail over with the same event. Afterwards: every
 * acknowledged session is read with its id from every surviving replica (0
 * lost), no event_id has two session ids, VRP is identical on the survivors;
 * the killed node rejoins and catches up; the whole cluster and the replicas
 * stopped and started again still hold everything acknowledged.
 */
import { randomUUID } from "node:crypto";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bridges } from "../src/bridge/index.js";
import { VrpProducer, subscribeVrp } from "../src/client/vrp.js";
import {
  ListSessionsRequest,
  type EmitSessionStartResponse,
  type GetSessionResponse,
  type ListSessionsResponse,
} from "../gen/oneiric/session/v1/session_service.js";
import { call, clientFor } from "./support/collector.js";
import { validStart } from "./support/fixtures.js";
import { NatsCluster, until } from "./support/nats-cluster.js";
import { replicaArgs } from "./support/replica-set.js";
import { tempDir } from "./support/repo.js";
import { startServeProcess, type ServeProcess } from "./support/serve-process.js";

const PREFIX = "faults";

test("SIGKILL a NATS node, then a replica, under load: nothing acknowledged is lost or doubled; a full restart keeps it all", async () => {
  const cluster = await NatsCluster.start({ nodes: 3 });
  const dirs = [1, 2, 3].map((i) => tempDir(`replica-fault-${i}-`));
  const start = (dir: string) => startServeProcess(replicaArgs(cluster, PREFIX, dir));
  let replicas: ServeProcess[] = await Promise.all(dirs.map(start));
  try {
    const target = replicas.map((r) => `127.0.0.1:${r.port}`).join(",");
    const acked = new Map<string, string>(); // event_id -> session id
    const doubled: string[] = [];
    let stop = false;
    const client = clientFor(target);
    const emitter = async () => {
      while (!stop) {
        const event = bridges.SessionStartEvent.fromJson({ ...validStart(), event_id: randomUUID() });
        for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
          try {
            const r = await call<unknown, EmitSessionStartResponse>(client, "emitSessionStart", { event });
            const before = acked.get(event.eventId);
            if (before !== undefined && before !== r.sessionId) doubled.push(event.eventId);
            acked.set(event.eventId, r.sessionId);
            break;
          } catch {
            // UNAVAILABLE (a replica or a node went away): the same event again, on whichever replica answers
          }
        }
      }
    };
    const session = `fault-vrp-${randomUUID()}`;
    const producer = new VrpProducer({ target });
    let ticks = 0;
    const vrp = (async () => {
      await producer.send({ ts_ms: 1_780_000_000_000, event_type: "SESSION_CREATED", session_id: session });
      while (!stop) {
        await producer.send({
          ts_ms: 1_780_000_000_000 + ++ticks,
          event_type: ticks % 10 === 0 ? "VOLATILITY_SIGNAL" : "MUTATION_TICK",
          session_id: session,
        });
      }
    })();
    const load = Promise.all(Array.from({ length: 8 }, emitter));
    const ackedAtLeast = (n: number) =>
      until(`${n} acknowledged starts`, () => (acked.size >= n ? true : undefined), 60_000);

    await ackedAtLeast(200);
    await cluster.nodes[1]!.kill(); // a NATS node
    await ackedAtLeast(acked.size + 200);
    replicas[2]!.child.kill("SIGKILL"); // a replica
    await replicas[2]!.exited;
    await ackedAtLeast(acked.size + 200);
    stop = true;
    await load;
    await vrp;
    await producer.close();
    client.close();

    assert.equal(doubled, [], "no event_id got two session ids");
    const survivors = replicas.slice(0, 2).map((r) => clientFor(`127.0.0.1:${r.port}`));
    const readAll = (clients: typeof survivors, deadlineMs = 10_000) =>
      Promise.all(
        clients.flatMap((c) =>
          [...acked].map(async ([eventId, sessionId]) => {
            const got = await call<unknown, GetSessionResponse>(c, "getSession", { sessionId }, { deadlineMs });
            assert.is(got.session!.start!.eventId, eventId);
          }),
        ),
      );
    await readAll(survivors);
    // Every start stored once: no event_id with two sessions in the log (a replica lists them all).
    const perEvent = new Map<string, number>();
    for (let token = ""; ; ) {
      const page = await call<unknown, ListSessionsResponse>(
        survivors[0]!,
        "listSessions",
        ListSessionsRequest.fromPartial({ pageSize: 1000, pageToken: token }),
      );
      for (const x of page.sessions) perEvent.set(x.start!.eventId, (perEvent.get(x.start!.eventId) ?? 0) + 1);
      token = page.nextPageToken;
      if (!token) break;
    }
    assert.equal(
      [...perEvent].filter(([, n]) => n > 1),
      [],
      "no event_id stored twice",
    );
    for (const eventId of acked.keys()) assert.is(perEvent.get(eventId), 1, eventId);
    const vrpSeen = async (ports: number[]) =>
      Promise.all(
        ports.map(async (port) => {
          const out: string[] = [];
          for await (const { sequence, event, derived } of subscribeVrp({
            target: `127.0.0.1:${port}`,
            sessionId: session,
          })) {
            out.push(`${sequence} ${derived} ${event.event_type} ${event.reason_code ?? ""}`);
            if (!derived && event.ts_ms === 1_780_000_000_000 + ticks) break;
          }
          return out;
        }),
      );
    const [one, two] = await vrpSeen(replicas.slice(0, 2).map((r) => r.port));
    assert.equal(two, one, "VRP identical on the surviving replicas");
    assert.ok(one!.length > ticks, `${one!.length} VRP records for ${ticks} ticks`);

    // The killed node rejoins and catches up.
    await cluster.nodes[1]!.start();
    const last = (await cluster.nodes[0]!.monitor("/jsz?streams=true")).account_details
      .flatMap((a: { stream_detail?: { name: string; state: { last_seq: number } }[] }) => a.stream_detail ?? [])
      .find((s: { name: string }) => s.name === `${PREFIX}_sessions`).state.last_seq as number;
    await cluster.waitForNodeToHold(cluster.nodes[1]!, `${PREFIX}_sessions`, last, 30_000);

    // Everything stopped, everything started again: all of it is still there.
    for (const s of survivors) s.close();
    for (const r of replicas.slice(0, 2)) r.child.kill("SIGTERM");
    await Promise.all(replicas.map((r) => r.exited));
    await cluster.stopAll();
    await cluster.startAll();
    replicas = await Promise.all(dirs.map(start));
    const again = replicas.map((r) => clientFor(`127.0.0.1:${r.port}`));
    await readAll(again, 20_000);
    for (const c of again) c.close();
  } finally {
    for (const r of replicas) r.child.kill("SIGKILL");
    await Promise.all(replicas.map((r) => r.exited));
    await cluster.destroy();
  }
});

test.run();
