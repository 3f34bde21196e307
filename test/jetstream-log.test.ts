/**
 * JetStreamLog and its companions on a real 3-node nats-server cluster with
 * R3 streams: positions, atomic groups, gap-free read + follow from two
 * connections, de-duplication, create-only idempotency keys under a race,
 * per-session expected-sequence conflicts, compare-and-set, refusal of an
 * incompatible existing configuration, engines opening at once, and faults: SIGKILL of the stream
 * leader under load (0 acknowledged lost), the node's catch-up, and a stop
 * and start of the whole cluster.
 */
import { randomUUID } from "node:crypto";
import { JetStreamApiError, jetstreamManager } from "@nats-io/jetstream";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { JetStreamEngine, type JetStreamEngineOptions } from "../src/store/jetstream/engine.js";
import { IncompatibleConfigError, SessionSequenceConflictError } from "../src/store/jetstream/errors.js";
import { decodeGroup, encodeGroup } from "../src/store/jetstream/group-codec.js";
import type { JetStreamRecord } from "../src/store/jetstream/jetstream-log.js";
import { ELECTION_MS, NatsCluster, until } from "./support/nats-cluster.js";

let cluster: NatsCluster;
const open: JetStreamEngine[] = [];

test.before(async () => {
  cluster = await NatsCluster.start({ nodes: 3 });
});
test.after(async () => {
  await Promise.allSettled(open.map((e) => e.close()));
  await cluster?.destroy();
});

/** An engine on its own connection; `first` picks the server it connects to first. */
async function engine(
  prefix: string,
  first = 0,
  options: Partial<JetStreamEngineOptions> = {},
  on = cluster,
): Promise<JetStreamEngine> {
  const urls = on.servers.split(",");
  const servers = [...urls.slice(first), ...urls.slice(0, first)];
  const e = await JetStreamEngine.open({ servers, prefix, replicas: 3, ...options });
  open.push(e);
  return e;
}

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (b: Uint8Array) => new TextDecoder().decode(b);
async function all(records: AsyncIterable<JetStreamRecord>): Promise<JetStreamRecord[]> {
  const out: JetStreamRecord[] = [];
  for await (const r of records) out.push(r);
  return out;
}
const view = (rs: JetStreamRecord[]) => rs.map((r) => `${r.sequence}.${r.index}:${text(r.payload)}`);

test("a group is one position: its records share the sequence, in order; a group built for its position gets it", async () => {
  const { logs } = await engine("t-groups");
  const log = logs.vrp;
  const single = await log.append(bytes("alone"));
  const group = await log.appendGroup([bytes("event"), bytes("derived-1"), bytes("derived-2")]);
  const after = await log.append(bytes("after"));
  assert.is(single, 1n);
  assert.is(group, 2n);
  assert.is(after, 3n, "the next position after a group of three is +1");
  assert.equal(view(await all(log.read())), ["1.0:alone", "2.0:event", "2.1:derived-1", "2.2:derived-2", "3.0:after"]);
  assert.equal(view(await all(log.read(2n))), ["2.0:event", "2.1:derived-1", "2.2:derived-2", "3.0:after"]);
  assert.equal(await all(log.read(4n)), []);
  assert.is(log.lastSequence, 3n);
  // A group that names its own position: built for the position the stream gives it.
  const positioned = await log.appendGroup((first) => [bytes(`at-${first}`), bytes(`cause-${first}`)]);
  assert.is(positioned, 4n);
  assert.equal(view(await all(log.read(4n))), ["4.0:at-4", "4.1:cause-4"]);
  // The other family is another stream, numbered on its own.
  assert.is(await logs.sessions.append(bytes("s")), 1n);
});

test("a group message decodes to exactly its records; a body that does not match its header is refused, never half-read", () => {
  const { body, headers } = encodeGroup([bytes("a"), bytes(""), bytes("ccc")]);
  assert.equal(decodeGroup(body, headers, "m").map(text), ["a", "", "ccc"]);
  const single = encodeGroup([bytes("only")]);
  assert.is(single.headers, undefined, "a single record is the body as it is");
  assert.equal(decodeGroup(single.body, undefined, "m").map(text), ["only"]);
  assert.throws(
    () => decodeGroup(body.subarray(0, body.length - 1), headers, "m#7"),
    /m#7: record 2 of 3 runs past the message \[group_truncated\]/,
  );
  const longer = new Uint8Array([...body, 0]);
  assert.throws(
    () => decodeGroup(longer, headers, "m#8"),
    /m#8: group header says 3 records, the body holds other bytes \[group_length\]/,
  );
});

test("read + follow from two connections: the same list, gap-free, while writers on both append", async () => {
  const a = await engine("t-follow", 0);
  const b = await engine("t-follow", 1);
  const followed: JetStreamRecord[] = [];
  const abort = new AbortController();
  const following = (async () => {
    for await (const r of b.logs.vrp.tail(1n, abort.signal)) followed.push(r);
  })().catch((e: unknown) => e as Error);
  const writes: Promise<bigint>[] = [];
  for (let i = 0; i < 150; i++) {
    const log = i % 2 ? a.logs.vrp : b.logs.vrp;
    writes.push(i % 5 === 0 ? log.appendGroup([bytes(`g${i}a`), bytes(`g${i}b`)]) : log.append(bytes(`r${i}`)));
  }
  const positions = await Promise.all(writes);
  const expected = 150 + 30;
  await until("the follower to see every record", () => (followed.length >= expected ? true : undefined));
  abort.abort();
  const followError = await following;
  assert.not.ok(followError, `the follower failed: ${followError}`);
  const readA = await all(a.logs.vrp.read());
  const readB = await all(b.logs.vrp.read());
  assert.equal(view(readA), view(readB));
  assert.equal(view(followed), view(readA));
  const sequences = [...new Set(readA.map((r) => r.sequence))];
  assert.equal(
    sequences,
    Array.from({ length: 150 }, (_, i) => BigInt(i + 1)),
    "positions 1..150, no gap, no duplicate",
  );
  assert.equal(
    [...positions].sort((x, y) => Number(x - y)),
    sequences,
  );
});

test("Nats-Msg-Id: the same id twice within the window is stored once, at the first position", async () => {
  const { logs } = await engine("t-dedup");
  const msgId = randomUUID();
  const first = await logs.sessions.appendToSession("sess-1", [bytes("start")], { msgId });
  const again = await logs.sessions.appendToSession("sess-1", [bytes("start")], { msgId });
  assert.equal(first, { sequence: 1n, duplicate: false });
  assert.equal(again, { sequence: 1n, duplicate: true });
  assert.is((await all(logs.sessions.read())).length, 1);
});

test("idempotency keys: 300 event_ids claimed at once through 3 connections, 3 times each -> one winner per key", async () => {
  const engines = await Promise.all([0, 1, 2].map((i) => engine("t-claims", i)));
  const ids = Array.from({ length: 300 }, () => randomUUID());
  const claims = ids.flatMap((id) =>
    engines.map((e, i) => e.idempotency.claim(id, `${id}-session-${i}`).then((c) => ({ id, i, c }))),
  );
  const results = await Promise.all(claims);
  for (const id of ids) {
    const mine = results.filter((r) => r.id === id);
    const winners = mine.filter((r) => r.c.created);
    assert.is(winners.length, 1, `one winner for ${id}`);
    const winning = `${id}-session-${winners[0]!.i}`;
    for (const loser of mine.filter((r) => !r.c.created))
      assert.is((loser.c as { sessionId: string }).sessionId, winning);
    assert.is(await engines[2]!.idempotency.lookup(id), winning);
  }
  // Ids that are not safe KV keys are encoded, not refused.
  const odd = "évent id/with.dots*";
  assert.equal(await engines[0]!.idempotency.claim(odd, "s1"), { created: true });
  assert.equal(await engines[1]!.idempotency.claim(odd, "s2"), { created: false, sessionId: "s1" });
});

test("engines opened at once on a new prefix all open (a server still applying the stream's creation answers 'not found': asked again); later, a deleted stream fails at once", async () => {
  for (let round = 0; round < 4; round++) {
    const prefix = `t-open-${round}`;
    const engines = await Promise.all([0, 1, 2].map((i) => engine(prefix, i)));
    for (const e of engines) assert.is(await e.logs.vrp.refresh(), 0n);
    // Their streams and buckets go (each an R3 raft group), so that the fault tests below run on a quiet cluster.
    const jsm = await jetstreamManager(engines[0]!.connection);
    for await (const name of jsm.streams.names()) if (name.includes(prefix)) await jsm.streams.delete(name);
  }
  // Not at open: a "not found" is final (no wait for a stream that is gone).
  const e = await engine("t-gone", 0);
  await (await jetstreamManager(e.connection)).streams.delete("t-gone_vrp");
  try {
    await e.logs.vrp.refresh();
    assert.unreachable("a deleted stream was read");
  } catch (error) {
    // JetStream's own answer, passed on: not retried until the deadline (which would end in JetStreamUnavailableError).
    assert.instance(error, JetStreamApiError);
    assert.is((error as JetStreamApiError).status, 404);
    assert.match((error as Error).message, /stream not found/);
  }
});

test("per-session expected sequence: a stale writer gets a conflict naming the actual position; racers: one wins", async () => {
  const a = await engine("t-cas", 0);
  const b = await engine("t-cas", 2);
  const s = "vpn-session-7";
  assert.is(await a.logs.vrp.lastSessionSequence(s), 0n);
  const first = await a.logs.vrp.appendToSession(s, [bytes("e1")], { expectedLastSequence: 0n });
  await a.logs.vrp.append(bytes("another session's business"));
  try {
    await b.logs.vrp.appendToSession(s, [bytes("e1-again")], { expectedLastSequence: 0n });
    assert.unreachable("the stale writer must be refused");
  } catch (e) {
    assert.instance(e, SessionSequenceConflictError);
    const conflict = e as SessionSequenceConflictError;
    assert.is(conflict.code, "ABORTED");
    assert.is(conflict.actual, first.sequence);
  }
  assert.is(await b.logs.vrp.lastSessionSequence(s), first.sequence);
  // Three replicas decide on the same view at once, 30 times: exactly one is stored each time
  // (on 2.9 R3 through the stream-wide check: the server's per-subject one lets several through).
  const c = await engine("t-cas", 1);
  assert.is(a.serialisation, "stream", "Debian's nats-server 2.9 with R3: stream-wide checks");
  let last = first.sequence;
  for (let round = 0; round < 30; round++) {
    const race = await Promise.allSettled(
      [a, b, c].map((e, i) =>
        e.logs.vrp.appendToSession(s, [bytes(`e${round}-${i}`), bytes(`derived-${i}`)], { expectedLastSequence: last }),
      ),
    );
    const won = race.filter(
      (r): r is PromiseFulfilledResult<{ sequence: bigint; duplicate: boolean }> => r.status === "fulfilled",
    );
    assert.is(won.length, 1, `round ${round}: one writer stored`);
    for (const lost of race.filter((r) => r.status === "rejected")) {
      assert.instance((lost as PromiseRejectedResult).reason, SessionSequenceConflictError);
      assert.is(
        ((lost as PromiseRejectedResult).reason as SessionSequenceConflictError).actual,
        won[0]!.value.sequence,
      );
    }
    last = won[0]!.value.sequence;
  }
  assert.is(await c.logs.vrp.lastSessionSequence(s), last);
  // Other sessions are not serialised against this one.
  await b.logs.vrp.appendToSession("other", [bytes("x")], { expectedLastSequence: 0n });
});

test("compare-and-set: of two replicas taking the same transport at once, one wins; the loser sees the winner", async () => {
  const a = await engine("t-owners", 0);
  const b = await engine("t-owners", 1);
  const key = "transport:wg0/10.0.0.7";
  const race = await Promise.all([
    a.owners.compareAndSet(key, bytes("session-A"), 0n),
    b.owners.compareAndSet(key, bytes("session-B"), 0n),
  ]);
  const won = race.filter((r) => r.ok);
  assert.is(won.length, 1);
  const lost = race.find((r) => !r.ok) as { ok: false; current: { value: Uint8Array; revision: bigint } };
  const current = await a.owners.get(key);
  assert.equal(text(lost.current.value), text(current.value));
  // Hand over from the current revision; a write at a stale revision is refused.
  const handover = await b.owners.compareAndSet(key, bytes("session-C"), current.revision);
  assert.ok(handover.ok);
  assert.not.ok((await a.owners.compareAndSet(key, bytes("session-D"), current.revision)).ok);
  assert.is(text((await b.owners.get(key)).value), "session-C");
  // Three replicas update from the same revision at once, 30 times: one wins each time.
  const c = await engine("t-owners", 2);
  for (let round = 0; round < 30; round++) {
    const { revision } = await a.owners.get(key);
    const race = await Promise.all(
      [a, b, c].map((e, i) => e.owners.compareAndSet(key, bytes(`owner-${round}-${i}`), revision)),
    );
    assert.is(race.filter((r) => r.ok).length, 1, `round ${round}: one owner`);
  }
});

test("an existing stream or bucket with another configuration is refused, naming each difference", async () => {
  const e = await engine("t-config", 0, { duplicateWindowMs: 60_000 });
  await e.close();
  const same = await engine("t-config", 1, { duplicateWindowMs: 60_000 });
  await same.close();
  try {
    await engine("t-config", 0, { replicas: 1, duplicateWindowMs: 30_000 });
    assert.unreachable("must refuse");
  } catch (err) {
    assert.instance(err, IncompatibleConfigError);
    const error = err as IncompatibleConfigError;
    assert.is(error.code, "FAILED_PRECONDITION");
    assert.match(error.message, "stream t-config_sessions");
    assert.match(error.message, "replicas (--nats-stream-replicas) is 3, needs 1");
    assert.ok(error.issues.some((i) => i.path === "t-config_sessions.duplicate_window"));
  }
  try {
    await engine("t-config", 0, { idempotencyTtlMs: 86_400_000, duplicateWindowMs: 60_000 });
    assert.unreachable("must refuse");
  } catch (err) {
    assert.instance(err, IncompatibleConfigError);
    assert.match((err as Error).message, "bucket t-config_event_ids");
    assert.match((err as Error).message, "ttl (max_age)");
  }
  try {
    await engine("bad.prefix");
    assert.unreachable("must refuse");
  } catch (err) {
    assert.match((err as Error).message, "prefix: must be 1 to 64 of");
  }
});

test("SIGKILL of the stream leader under load: every acknowledged append is read back (0 lost, none twice); the node rejoins and catches up; a whole-cluster stop and start keeps everything", async () => {
  // A cluster of its own: after a restart only this test's streams elect leaders.
  const cluster = await NatsCluster.start({ nodes: 3 });
  try {
    await faults(cluster);
  } finally {
    await cluster.destroy();
  }
});

async function faults(cluster: NatsCluster): Promise<void> {
  const writer = await engine("t-faults", 0, { publishDeadlineMs: ELECTION_MS }, cluster);
  // Reads wait out the election that follows the kill (2.9 takes seconds, tens of them on a loaded machine).
  const reader = await engine("t-faults", 1, { publishDeadlineMs: ELECTION_MS }, cluster);
  const log = writer.logs.vrp;
  const stream = log.names.stream;
  const victimName = await cluster.waitForStreamLeader(stream);
  const victim = cluster.nodes.find((n) => n.name === victimName)!;

  // A follower through it all: it must see exactly what a read afterwards sees.
  const followed: JetStreamRecord[] = [];
  const abort = new AbortController();
  const following = (async () => {
    for await (const r of reader.logs.vrp.tail(1n, abort.signal)) followed.push(r);
  })().catch((e: unknown) => e as Error);
  const acknowledged = new Map<string, bigint>();
  let failed = 0;
  let killed = false;
  const deadline = Date.now() + 20_000 + ELECTION_MS;
  // 8 writers; the leader is killed once 300 appends are acknowledged; stop at 900.
  await Promise.all(
    Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; acknowledged.size < 900 && Date.now() < deadline; i++) {
        const payload = `w${w}-${i}`;
        try {
          const at =
            i % 4 === 0
              ? await log.appendGroup([bytes(payload), bytes(`${payload}-derived`)])
              : await log.append(bytes(payload));
          acknowledged.set(payload, at);
        } catch {
          failed++;
        }
        if (!killed && acknowledged.size >= 300) {
          killed = true;
          await victim.kill();
        }
      }
    }),
  );
  assert.ok(killed, "the leader was killed mid-load");
  assert.ok(acknowledged.size >= 900, `900 appends acknowledged (got ${acknowledged.size}, ${failed} failed)`);

  const check = async (records: JetStreamRecord[], what: string) => {
    const firsts = records.filter((r) => r.index === 0);
    const stored = new Map<string, bigint[]>();
    for (const r of firsts) stored.set(text(r.payload), [...(stored.get(text(r.payload)) ?? []), r.sequence]);
    for (const [payload, at] of acknowledged) {
      assert.equal(stored.get(payload), [at], `${what}: ${payload} acknowledged at ${at}, stored once there`);
    }
    const sequences = firsts.map((r) => r.sequence);
    assert.equal(
      sequences,
      [...sequences].sort((x, y) => Number(x - y)),
      `${what}: in order`,
    );
    assert.is(new Set(sequences).size, sequences.length, `${what}: no position twice`);
  };
  // A new reader needs both leaders: the stream's, and the meta leader that places its consumer.
  await cluster.waitForMetaLeader();
  await cluster.waitForStreamLeader(stream);
  const afterKill = await all(reader.logs.vrp.read());
  await check(afterKill, "read after the kill");
  const last = afterKill.at(-1)!.sequence;
  await until(
    "the follower to reach the end",
    () => (followed.at(-1)?.sequence === last ? true : undefined),
    ELECTION_MS,
  );
  abort.abort();
  const followError = await following;
  assert.not.ok(followError, `the follower failed: ${followError}`);
  assert.equal(view(followed), view(afterKill), "the follower, across the leader's death, saw exactly what read sees");

  // The killed node comes back and catches up from the others.
  await victim.start();
  await cluster.waitForNodeToHold(victim, stream, Number(last));

  // Everything down (clean stops), everything up: what was acknowledged is there.
  await Promise.all([writer.close(), reader.close()]);
  await cluster.stopAll();
  await cluster.startAll();
  await cluster.waitForStreamLeader(stream);
  const reopened = await engine("t-faults", 2, { publishDeadlineMs: ELECTION_MS }, cluster);
  await check(await all(reopened.logs.vrp.read()), "read after the restart");
  assert.is(await reopened.logs.vrp.append(bytes("after restart")), last + 1n);
  await reopened.close();
}

test.run();
