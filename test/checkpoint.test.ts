/**
 * The state store and its checkpoints (src/state): a checkpoint at any point
 * plus a replay of the log's tail gives exactly the state of a full replay;
 * an unusable store is moved aside and rebuilt, with a warning, to the same
 * answers; `log reindex` rebuilds it on purpose; ListSessions pages stay
 * bounded by a scan budget.
 */
import { closeSync, cpSync, existsSync, openSync, readdirSync, readSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bridges } from "../src/bridge/index.js";
import { main } from "../src/cli/main.js";
import { Collector } from "../src/collector/collector.js";
import { SessionEndEvent, SessionStartEvent } from "../src/session/models.js";
import { parseServeConfig } from "../src/cli/serve-config.js";
import { DerivedState } from "../src/state/derived-state.js";
import { openState } from "../src/state/open-state.js";
import { TABLES, StateStore } from "../src/state/state-store.js";
import { LogEntry } from "../gen/sessionevents/log/v1/log_entry.js";
import { SessionStartEvent as SessionStartEventMessage } from "../gen/oneiric/session/v1/session_events.js";
import { SegmentLog } from "../src/store/segment-log.js";
import { VrpHub } from "../src/collector/vrp-hub.js";
import type { JsonObject, VrpEventJson } from "../src/contract/types.js";
import { openDerived, openDerivedWith } from "./support/derived-state.js";
import { scratchDir } from "./support/segments.js";
import { call, clientFor } from "./support/collector.js";
import { tempDir } from "./support/repo.js";
import { startServeProcess } from "./support/serve-process.js";
import {
  ListSessionsRequest,
  type EmitSessionStartResponse,
  type GetSessionResponse,
  type ListSessionsResponse,
} from "../gen/oneiric/session/v1/session_service.js";

const start = (component: string, second: number) =>
  bridges.SessionStartEvent.fromJson({
    ...SessionStartEvent.create({ componentName: component, shellType: "Shell" }),
    timestamp: `2026-01-01T00:00:${String(second).padStart(2, "0")}Z`,
  });
const end = (sessionId: string) =>
  bridges.SessionEndEvent.fromJson({ ...SessionEndEvent.create({ sessionId }), timestamp: "2026-01-01T00:01:00Z" });

type Op =
  | { kind: "start"; component: string; second: number }
  | { kind: "end"; which: number }
  | { kind: "restart-start"; which: number }
  | { kind: "vrp"; type: string; session: string; transport: string; producer: boolean };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("start" as const),
    component: fc.constantFrom("a", "b", "c"),
    second: fc.integer({ min: 0, max: 59 }),
  }),
  fc.record({ kind: fc.constant("end" as const), which: fc.nat() }),
  fc.record({ kind: fc.constant("restart-start" as const), which: fc.nat() }),
  fc.record({
    kind: fc.constant("vrp" as const),
    type: fc.constantFrom(
      "SESSION_CREATED",
      "PATH_SELECTED",
      "PATH_LOST",
      "RECOVERY_STARTED",
      "STATE_CHANGE",
      "MUTATION_TICK",
    ),
    session: fc.constantFrom("p", "q"),
    transport: fc.constantFrom("t1", "t2"),
    producer: fc.boolean(),
  }),
);

/** Write a log by running the real collector and hub on `ops` (ends and retried starts of earlier sessions: duplicates included). */
async function writeLog(dir: string, ops: readonly Op[]): Promise<void> {
  const log = await SegmentLog.open({ dir, segmentBytes: 4096 });
  const state = await openDerived(log, dir);
  const collector = new Collector(log, state);
  const hub = new VrpHub(log, state);
  const starts: ReturnType<typeof start>[] = [];
  const sessions: string[] = [];
  let ts = 1_700_000_000_000;
  let producerSequence = 0n;
  for (const o of ops) {
    if (o.kind === "start") {
      const event = start(o.component, o.second);
      starts.push(event);
      sessions.push((await collector.emitStart(event)).sessionId);
    } else if (o.kind === "end" && sessions.length > 0) {
      await collector.emitEnd(end(sessions[o.which % sessions.length]!));
    } else if (o.kind === "restart-start" && starts.length > 0) {
      await collector.emitStart(starts[o.which % starts.length]); // a retry: a duplicate, stored once
    } else if (o.kind === "vrp") {
      ts += 1000;
      const details: JsonObject =
        o.type === "PATH_SELECTED"
          ? { transport_id: o.transport }
          : o.type === "STATE_CHANGE"
            ? { to_state: "TERMINATED" }
            : {};
      const json: VrpEventJson = { ts_ms: ts, event_type: o.type, session_id: o.session, details };
      const outcome = o.producer
        ? hub.accept(bridges.VrpEvent.fromJson(json), "prod", ++producerSequence)
        : hub.accept(bridges.VrpEvent.fromJson(json));
      if (outcome.kind !== "refused") await outcome.durable;
    }
  }
  await log.close();
}

/** Every table of a store, as comparable data. */
function dump(dir: string): Record<string, unknown[]> {
  const store = StateStore.open(path.join(dir, "state"));
  try {
    return Object.fromEntries(
      TABLES.map((t) => [
        t,
        [...store.range(t, {})].map(({ key, value }) =>
          JSON.stringify([key, value], (_k, v: unknown) =>
            v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v,
          ),
        ),
      ]),
    );
  } finally {
    void store.close();
  }
}

test("property: a checkpoint at any group boundary plus the tail replay, and the state applied live, give exactly the state of a full replay", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(op, { minLength: 1, maxLength: 40 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.integer({ min: 1, max: 20 }),
      async (ops, at, every) => {
        const written = scratchDir("checkpoint-log-");
        await writeLog(written, ops);
        const copy = (name: string) => {
          const dir = scratchDir(name);
          for (const f of readdirSync(written))
            if (f.endsWith(".seg")) cpSync(path.join(written, f), path.join(dir, f));
          return dir;
        };
        const full = copy("checkpoint-full-");
        const partial = copy("checkpoint-partial-");
        try {
          // Full replay: no store at all.
          const fullLog = await SegmentLog.open({ dir: full });
          const fullOpened = await openState({ dataDir: full, log: fullLog });
          const last = fullLog.lastSequence;
          assert.is(fullOpened.replayed, Number(last));
          await fullOpened.state.close();
          await fullLog.close();

          // Apply records up to a random point (completing a VRP group: the log writes it whole), checkpoint, stop.
          const log = await SegmentLog.open({ dir: partial });
          const store = StateStore.open(path.join(partial, "state"));
          store.initialise();
          const state = new DerivedState(store, { checkpointRecords: every, checkpointIntervalMs: 1000 });
          const k = BigInt(Math.floor(at * Number(last)));
          for await (const record of log.read()) {
            if (record.sequence > k && LogEntry.decode(record.payload).entry?.$case !== "vrpDerived") break;
            state.apply(record);
          }
          state.checkpoint();
          const checkpointed = state.applied;
          await state.close();
          // A restart: only the tail is replayed.
          const reopened = await openState({ dataDir: partial, log });
          assert.is(reopened.checkpoint, checkpointed);
          assert.is(reopened.replayed, Number(last - checkpointed));
          assert.is(reopened.rebuilt, undefined);
          await reopened.state.close();
          await log.close();
          assert.equal(dump(partial), dump(full));
          // The state applied live, from what the hub prepared (DerivedState.prepare), is the replay's too.
          assert.equal(dump(written), dump(full));
        } finally {
          for (const d of [written, full, partial]) rmSync(d, { recursive: true, force: true });
        }
      },
    ),
    { numRuns: 30 },
  );
});

test("a session record prepared by its writer is applied from what it prepared only if the log holds those bytes", async () => {
  const dir = scratchDir("prepared-session-");
  const log = await SegmentLog.open({ dir });
  const state = await openDerived(log, dir);
  try {
    const event = start("a", 1);
    const entry = (sessionId: string) =>
      LogEntry.encode(
        LogEntry.fromPartial({ entry: { $case: "sessionStarted", value: { sessionId, event } } }),
      ).finish();
    // The prepared event bytes name another component than the record's event, so the store's
    // answer shows which of the two applied the record (a real writer prepares the record's own).
    const prepared = (sessionId: string) => ({
      kind: "started" as const,
      sessionId,
      start: event,
      startBytes: SessionStartEventMessage.encode(start("from-preparation", 1)).finish(),
    });
    // The bytes written are what was prepared: applied from the preparation, not decoded.
    await log.appendGroup((at) => {
      state.prepareSession(at, entry("written"), prepared("written"));
      return [entry("written")];
    });
    assert.is(state.sessions.get("written")?.start.componentName, "from-preparation");
    // A preparation that does not match the record (a writer's mistake): the record is decoded instead.
    const other = start("b", 2);
    await log.appendGroup((at) => {
      state.prepareSession(at, entry("prepared"), prepared("prepared"));
      return [
        LogEntry.encode(
          LogEntry.fromPartial({ entry: { $case: "sessionStarted", value: { sessionId: "stored", event: other } } }),
        ).finish(),
      ];
    });
    assert.is(state.sessions.get("prepared"), undefined);
    assert.is(state.sessions.get("stored")?.start.componentName, "b");
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A data directory with sessions (some ended) and VRP state; returns what the collector answers about it. */
async function answers(
  dir: string,
  warnings: string[] = [],
): Promise<{ answers: unknown; replayed: number; rebuilt: string | undefined }> {
  const log = await SegmentLog.open({ dir });
  const opened = await openDerivedWith(log, dir, { warnings });
  const collector = new Collector(log, opened.state);
  const hub = new VrpHub(log, opened.state);
  const all = collector.listSessions({}, 1000, "").sessions;
  const json = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? String(x) : x));
  const result = {
    all: json(all),
    open: collector.listSessions({ status: "open" }, 1000, "").sessions.map((s) => s.sessionId),
    byComponent: collector.listSessions({ componentName: "b" }, 1000, "").sessions.map((s) => s.sessionId),
    one: json(collector.getSession(all[3]!.sessionId)),
    vrp: hub.machine.snapshot(),
    producer: String(hub.lastProducerSequence("prod")),
    count: collector.sessionCount,
  };
  await log.close();
  return { answers: result, replayed: opened.replayed, rebuilt: opened.rebuilt };
}

const sample: Op[] = [
  ...Array.from({ length: 12 }, (_, i): Op => ({ kind: "start", component: "abc"[i % 3]!, second: i })),
  { kind: "end", which: 2 },
  { kind: "end", which: 5 },
  { kind: "vrp", type: "SESSION_CREATED", session: "p", transport: "t1", producer: true },
  { kind: "vrp", type: "PATH_SELECTED", session: "p", transport: "t1", producer: true },
];

test("a missing, damaged or foreign state store: a warning, moved aside, rebuilt from the log to the same answers", async () => {
  const dir = scratchDir("state-rebuild-");
  await writeLog(dir, sample);
  const before = await answers(dir);
  assert.is(before.replayed, 0, "a clean stop leaves nothing to replay");
  const records = (await SegmentLog.open({ dir, readOnly: true })).lastSequence;

  const cases: [string, () => void | Promise<void>, RegExp][] = [
    ["missing", () => rmSync(path.join(dir, "state"), { recursive: true }), /state store missing/],
    [
      "damaged",
      () => writeFileSync(path.join(dir, "state", "data.mdb"), Buffer.alloc(8192, 0x5a)),
      /state store cannot be opened/,
    ],
    [
      "foreign format",
      async () => {
        const store = StateStore.open(path.join(dir, "state"));
        store.put("meta", "format", 99);
        store.checkpoint();
        await store.close();
      },
      /state store is in format 99/,
    ],
  ];
  for (const [name, harm, warning] of cases) {
    await harm();
    const warnings: string[] = [];
    const after = await answers(dir, warnings);
    assert.equal(after.answers, before.answers, `${name}: the same answers`);
    assert.is(after.replayed, Number(records), `${name}: the whole log replayed`);
    assert.ok(
      warnings.some((w) => warning.test(w)),
      `${name}: warned (${warnings.join("; ")})`,
    );
  }
  assert.ok(
    readdirSync(dir).some((n) => n.startsWith("state.unusable-")),
    "the unusable store was moved aside, not deleted",
  );
  rmSync(dir, { recursive: true, force: true });
});

test("a store ahead of the log, or of another log, is rebuilt", async () => {
  const a = scratchDir("state-ahead-a-");
  const b = scratchDir("state-ahead-b-");
  await writeLog(a, sample);
  await writeLog(b, sample.slice(0, 13)); // fewer records
  rmSync(path.join(b, "state"), { recursive: true });
  cpSync(path.join(a, "state"), path.join(b, "state"), { recursive: true });
  const warnings: string[] = [];
  await answers(b, warnings);
  assert.ok(
    warnings.some((w) => /past the log's last/.test(w)),
    warnings.join("; "),
  );

  const c = scratchDir("state-other-");
  await writeLog(c, [...sample, ...sample]); // more records, other content
  rmSync(path.join(c, "state"), { recursive: true });
  cpSync(path.join(a, "state"), path.join(c, "state"), { recursive: true });
  const warned: string[] = [];
  await answers(c, warned);
  assert.ok(
    warned.some((w) => /does not match the log/.test(w)),
    warned.join("; "),
  );
  for (const d of [a, b, c]) rmSync(d, { recursive: true, force: true });
});

test("log reindex rebuilds the state store from the log", async () => {
  const dir = scratchDir("reindex-");
  await writeLog(dir, sample);
  const before = await answers(dir);
  const out: string[] = [];
  const stdout = { write: (s: string) => out.push(s) } as unknown as typeof process.stdout;
  assert.is(await main(["log", "reindex", dir], stdout, stdout as unknown as typeof process.stderr), 0, out.join(""));
  assert.match(out.join(""), /reindexed: \d+ records applied/);
  assert.ok(!existsSync(`${path.join(dir, "state")}.reindex`));
  const after = await answers(dir);
  assert.is(after.rebuilt, undefined);
  assert.equal(after.answers, before.answers);
  rmSync(dir, { recursive: true, force: true });
});

test("ListSessions reads a bounded number of index entries a page: fewer sessions and a token, then the rest", async () => {
  const dir = scratchDir("scan-budget-");
  await writeLog(dir, [
    ...Array.from({ length: 30 }, (_, i): Op => ({ kind: "start", component: "a", second: i })),
    { kind: "start", component: "b", second: 0 },
    ...Array.from({ length: 30 }, (_, i): Op => ({ kind: "start", component: "a", second: i })),
    { kind: "start", component: "b", second: 1 },
  ]);
  const log = await SegmentLog.open({ dir });
  const state = await openDerived(log, dir);
  // A filter no index serves (no session ended): each page reads 10 entries and ends with a token.
  const seen: string[] = [];
  let after = 0n;
  let pages = 0;
  for (;;) {
    const page = state.sessions.list({ status: "ended" }, after, 50, 10);
    pages++;
    assert.ok(page.sessions.length === 0, "none ended");
    if (page.next === undefined) break;
    after = page.next;
  }
  assert.is(pages, 7, "62 entries, 10 a page");
  for (after = 0n; ; ) {
    const page = state.sessions.list({ componentName: "b" }, after, 1, 10);
    seen.push(...page.sessions.map((s) => s.start.componentName));
    if (page.next === undefined) break;
    after = page.next;
  }
  assert.equal(seen, ["b", "b"], "the component index: no budget spent on other components");
  await log.close();
  rmSync(dir, { recursive: true, force: true });
});

test("--checkpoint-records and --checkpoint-interval: defaults, and errors that name the flag and the rule", () => {
  const base = ["--data-dir", "x"];
  const config = parseServeConfig(base, {});
  assert.is(config.checkpointRecords, 10000);
  assert.is(config.checkpointIntervalMs, 1000);
  assert.is(
    parseServeConfig([...base, "--checkpoint-records", "5", "--checkpoint-interval", "50"], {}).checkpointRecords,
    5,
  );
  assert.throws(
    () => parseServeConfig([...base, "--checkpoint-records", "0"], {}),
    /--checkpoint-records: must be an integer from 1 to/,
  );
  assert.throws(
    () => parseServeConfig([...base, "--checkpoint-interval", "5"], {}),
    /--checkpoint-interval: must be an integer from 10 to/,
  );
  assert.throws(
    () => parseServeConfig(base, { SESSION_EVENTS_CHECKPOINT_RECORDS: "x" }),
    /SESSION_EVENTS_CHECKPOINT_RECORDS: must be an integer/,
  );
});

test("SIGKILL under load, checkpoints every 20 records: every acknowledged session is readable after the restart, which replays only the tail", async () => {
  const dataDir = tempDir("checkpoint-crash-");
  const serve = () =>
    startServeProcess(["--data-dir", dataDir, "--checkpoint-records", "20", "--checkpoint-interval", "10"]);
  const first = await serve();
  const client = clientFor(`127.0.0.1:${first.port}`);
  const acked: string[] = [];
  let killed = false;
  const worker = async () => {
    while (!killed) {
      try {
        const r = await call<unknown, EmitSessionStartResponse>(client, "emitSessionStart", {
          event: start("crash", 1),
        });
        acked.push(r.sessionId);
        if (acked.length % 3 === 0) await call(client, "emitSessionEnd", { event: end(r.sessionId) });
        if (acked.length >= 300 && !killed) {
          killed = true;
          first.child.kill("SIGKILL");
        }
      } catch {
        return; // the server is gone
      }
    }
  };
  await Promise.all(Array.from({ length: 12 }, worker));
  await first.exited;
  client.close();

  const second = await serve();
  const line = (msg: string) =>
    JSON.parse(second.log.find((l) => l.includes(`"msg":"${msg}"`))!) as Record<string, string | number | null>;
  const opened = line("state store opened");
  const lastSequence = Number(line("event log opened").lastSequence);
  const checkpoint = Number(opened.checkpoint);
  assert.ok(checkpoint > 0, "a checkpoint was committed before the kill");
  assert.is(opened.rebuilt, null, "the store was usable: no rebuild");
  assert.is(Number(opened.replayed), lastSequence - checkpoint, "only the records after the checkpoint were replayed");
  assert.ok(Number(opened.replayed) < lastSequence, `replayed ${opened.replayed} of ${lastSequence}`);
  const again = clientFor(`127.0.0.1:${second.port}`);
  for (const sessionId of acked) {
    const got = await call<unknown, GetSessionResponse>(again, "getSession", { sessionId });
    assert.is(got.session!.sessionId, sessionId);
  }
  const listed = await call<unknown, ListSessionsResponse>(
    again,
    "listSessions",
    ListSessionsRequest.fromPartial({ pageSize: 1000 }),
  );
  assert.ok(listed.sessions.length >= acked.length, "every acknowledged session is listed");
  again.close();
  second.child.kill("SIGTERM");
  assert.is((await second.exited).code, 0);

  // After a clean stop, the last checkpoint covers everything: nothing to replay.
  const third = await serve();
  assert.ok(
    third.log.some((l) => l.includes('"msg":"state store opened"') && l.includes('"replayed":0')),
    third.log.join("\n"),
  );
  third.child.kill("SIGTERM");
  await third.exited;
  rmSync(dataDir, { recursive: true, force: true });
});

/** The newest transaction LMDB committed to a data file: the larger mm_txnid of its two meta pages (byte 152 of each). */
function lastTransaction(dataFile: string): number {
  const fd = openSync(dataFile, "r");
  try {
    const page = Buffer.alloc(160);
    readSync(fd, page, 0, 160, 0);
    const pageSize = page.readUInt32LE(48);
    const first = Number(page.readBigUInt64LE(152));
    readSync(fd, page, 0, 160, pageSize);
    const second = Number(page.readBigUInt64LE(152));
    return Math.max(first, second);
  } finally {
    closeSync(fd);
  }
}

test("an idle collector commits nothing: reads and checkpoint intervals without writes leave the state store's last transaction as it was", async () => {
  const dataDir = tempDir("checkpoint-idle-");
  const serve = () => startServeProcess(["--data-dir", dataDir, "--checkpoint-interval", "10"]);
  const first = await serve();
  let client = clientFor(`127.0.0.1:${first.port}`);
  const { sessionId } = await call<unknown, EmitSessionStartResponse>(client, "emitSessionStart", {
    event: start("idle", 1),
  });
  client.close();
  first.child.kill("SIGTERM");
  assert.is((await first.exited).code, 0);

  // A restart with nothing to replay, then only reads for at least 30 checkpoint intervals.
  const second = await serve();
  client = clientFor(`127.0.0.1:${second.port}`);
  try {
    const dataFile = path.join(dataDir, "state", "data.mdb");
    const listening = lastTransaction(dataFile);
    const began = Date.now();
    let reads = 0;
    while (Date.now() - began < 300 || reads < 20) {
      const got = await call<unknown, GetSessionResponse>(client, "getSession", { sessionId });
      assert.is(got.session!.sessionId, sessionId);
      // ListSessions checkpoints before its range read (a no-op when nothing is pending).
      await call(client, "listSessions", ListSessionsRequest.fromPartial({ pageSize: 10 }));
      reads += 2;
      assert.is(lastTransaction(dataFile), listening, `a transaction was committed after ${reads} reads`);
    }
  } finally {
    client.close();
    second.child.kill("SIGTERM");
  }
  assert.is((await second.exited).code, 0);
  rmSync(dataDir, { recursive: true, force: true });
});

test.run();
