/**
 * Replay restores, never recomputes (DESIGN.md, storage rule 4): the VRP
 * policy may change at every restart, and a crash may cut the last events;
 * the state rebuilt from the log must always be the state of a machine that
 * was never restarted and saw the same surviving events under the same
 * policy changes. Each change of policy is itself recorded in the log.
 */
import { readFileSync, rmSync, truncateSync } from "node:fs";
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bridges } from "../src/bridge/index.js";
import { openDerived } from "./support/derived-state.js";
import type { VrpEventJson } from "../src/contract/types.js";
import { SegmentLog } from "../src/store/segment-log.js";
import { DEFAULT_POLICY, type VrpPolicy } from "../src/vrp/audits.js";
import { VrpHub } from "../src/collector/vrp-hub.js";
import { VrpStateMachine } from "../src/vrp/machine.js";
import { LogEntry } from "../gen/sessionevents/log/v1/log_entry.js";
import { StreamEventsRequest } from "../gen/vrp/v1alpha1/vrp_service.js";
import { startTestServer } from "./support/collector.js";
import { parseSegment, readAll, scratchDir, segmentPaths } from "./support/segments.js";
import { rawStream, summarize } from "./support/vrp-stream.js";

type Intent = {
  kind: "create" | "bind" | "switch" | "volatility" | "recovery" | "tick" | "terminate";
  session: string;
  transport: string;
  /** A switch names the transport it replaces: the active one (a real switch), or this one. */
  replacesActive: boolean;
  replaces: string;
  /** Mostly true: an event for a session not yet created creates it, and one in BIRTH binds it first (so sessions get somewhere). */
  plan: boolean;
  dt: number;
};

const intent: fc.Arbitrary<Intent> = fc.record({
  kind: fc.oneof(
    { weight: 6, arbitrary: fc.constant("create" as const) },
    { weight: 6, arbitrary: fc.constant("bind" as const) },
    { weight: 36, arbitrary: fc.constant("switch" as const) },
    { weight: 9, arbitrary: fc.constant("volatility" as const) },
    { weight: 9, arbitrary: fc.constant("recovery" as const) },
    { weight: 3, arbitrary: fc.constant("tick" as const) },
    { weight: 1, arbitrary: fc.constant("terminate" as const) }, // rare: TERMINATED is final
  ),
  session: fc.constantFrom("p", "q"),
  transport: fc.constantFrom("a", "b", "c", "d"),
  replacesActive: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  replaces: fc.constantFrom("a", "b", "c", "d"),
  plan: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  // Bursts (rate limits), ordinary steps, and long gaps (recovery windows).
  dt: fc.oneof(
    fc.integer({ min: 0, max: 50 }),
    fc.integer({ min: 51, max: 4000 }),
    fc.integer({ min: 4001, max: 40_000 }),
  ),
});

const policy: fc.Arbitrary<VrpPolicy> = fc.record({
  maxSwitchesPerMinute: fc.integer({ min: 1, max: 6 }),
  maxRecoveryWindowMs: fc.integer({ min: 500, max: 60_000 }),
});

interface Run {
  /** undefined: the previous run's policy again (no change to record). */
  readonly policy: VrpPolicy | undefined;
  readonly intents: Intent[];
  /** A crash after closing: keep only the first (crash mod (n + 1)) events of this run. */
  readonly crash: number | undefined;
}

const run: fc.Arbitrary<Run> = fc.record({
  policy: fc.option(policy, { nil: undefined, freq: 4 }),
  intents: fc.array(intent, { minLength: 3, maxLength: 30, size: "medium" }),
  crash: fc.option(fc.nat(), { nil: undefined }),
});

/** The event an intent stands for, given the state so far (a switch names the active transport when it means to). */
function concretize(i: Intent, ts: number, machine: VrpStateMachine): VrpEventJson {
  const base = { ts_ms: ts, session_id: i.session };
  const state = machine.session(i.session)?.state;
  if (i.plan && state === undefined) return { ...base, event_type: "SESSION_CREATED" };
  if (i.plan && state === "BIRTH")
    return { ...base, event_type: "PATH_SELECTED", details: { transport_id: i.transport } };
  switch (i.kind) {
    case "create":
      return { ...base, event_type: "SESSION_CREATED" };
    case "bind":
      return { ...base, event_type: "PATH_SELECTED", details: { transport_id: i.transport } };
    case "switch": {
      const active = machine.session(i.session)?.activeTransport;
      return {
        ...base,
        event_type: "PATH_SELECTED",
        details: {
          transport_id: i.transport,
          replaces: i.replacesActive && active !== undefined ? active : i.replaces,
        },
      };
    }
    case "volatility":
      return { ...base, event_type: "VOLATILITY_SIGNAL" };
    case "recovery":
      return { ...base, event_type: "RECOVERY_SIGNAL" };
    case "tick":
      return { ...base, event_type: "MUTATION_TICK" };
    case "terminate":
      return { ...base, event_type: "STATE_CHANGE", details: { to_state: "TERMINATED" } };
  }
}

const samePolicy = (a: VrpPolicy | undefined, b: VrpPolicy) =>
  a !== undefined &&
  a.maxRecoveryWindowMs === b.maxRecoveryWindowMs &&
  a.maxSwitchesPerMinute === b.maxSwitchesPerMinute;

/** The policies the log records, with where. */
async function policyEntries(dir: string): Promise<{ sequence: bigint; policy: VrpPolicy }[]> {
  const log = await SegmentLog.open({ dir, readOnly: true });
  const out: { sequence: bigint; policy: VrpPolicy }[] = [];
  for (const r of await readAll(log)) {
    const entry = LogEntry.decode(r.payload).entry;
    if (entry?.$case === "vrpPolicyChanged")
      out.push({
        sequence: r.sequence,
        policy: {
          maxRecoveryWindowMs: Number(entry.value.maxRecoveryWindowMs),
          maxSwitchesPerMinute: entry.value.maxSwitchesPerMinute,
        },
      });
  }
  await log.close();
  return out;
}

test("property: restarts with a new policy (and crashes) rebuild exactly the state of a machine that was never restarted", async () => {
  const stats = { restarts: 0, changes: 0, crashes: 0, switches: 0, switchesRefused: 0, windowsExceeded: 0 };
  await fc.assert(
    fc.asyncProperty(fc.array(run, { minLength: 2, maxLength: 4 }), async (runs) => {
      const dir = scratchDir("policy-replay-"); // many opens per case, and shrinking on failure: no disk fsync latency
      const reference = new VrpStateMachine();
      const expectedEntries: { sequence: bigint; policy: VrpPolicy }[] = [];
      let recorded: VrpPolicy | undefined;
      let current: VrpPolicy = DEFAULT_POLICY;
      let ts = 1_700_000_000_000;
      let log: SegmentLog | undefined;
      try {
        // The runs, then one more restart with the default policy and no events.
        for (const [r, spec] of [...runs, { policy: DEFAULT_POLICY, intents: [], crash: undefined } as Run].entries()) {
          current = spec.policy ? { ...spec.policy } : current; // a plain object (fast-check's records have no prototype)
          log = await SegmentLog.open({ dir });
          const hub = new VrpHub(log, await openDerived(log, dir), current);
          stats.restarts++;
          assert.equal(
            hub.machine.snapshot(),
            reference.snapshot(),
            `run ${r}: the rebuilt state is the never-restarted machine's`,
          );
          const before = log.lastSequence;
          const { changed } = await hub.recordPolicy();
          assert.is(
            changed,
            !samePolicy(recorded, current),
            `run ${r}: a policy entry is written exactly when the policy changed`,
          );
          if (changed) {
            expectedEntries.push({ sequence: before + 1n, policy: current });
            stats.changes++;
          }
          recorded = current;
          reference.policy = current;

          const accepted: { json: VrpEventJson; sequence: bigint; derived: readonly VrpEventJson[] }[] = [];
          const durable: Promise<void>[] = [];
          for (const i of spec.intents) {
            ts += i.dt;
            const json = concretize(i, ts, hub.machine);
            const outcome = hub.accept(bridges.VrpEvent.fromJson(json));
            if (outcome.kind !== "accepted") throw new Error(`run ${r}: ${JSON.stringify(json)} was ${outcome.kind}`);
            accepted.push({ json, sequence: outcome.sequence, derived: outcome.derived });
            durable.push(outcome.durable);
          }
          await Promise.all(durable);
          await log.close();

          // A crash: the log keeps the first `keep` events of this run (whole groups), the rest never reached it.
          const keep = spec.crash === undefined ? accepted.length : spec.crash % (accepted.length + 1);
          if (keep < accepted.length) {
            const [file] = segmentPaths(dir);
            const frame = parseSegment(readFileSync(file!)).find((f) => f.sequence === accepted[keep]!.sequence)!;
            truncateSync(file!, frame.offset);
            stats.crashes++;
          }
          for (const a of accepted.slice(0, keep)) {
            assert.equal(
              reference.apply(a.json, Number(a.sequence)),
              a.derived,
              `run ${r}: the hub decided what the reference decides`,
            );
            stats.switches += a.derived.filter(
              (d) => d.reason_code === "PATH_SWITCHED" || d.reason_code === "PATH_REATTACHED",
            ).length;
            stats.switchesRefused += a.derived.filter((d) => d.reason_code === "SWITCH_RATE_EXCEEDED").length;
            stats.windowsExceeded += a.derived.filter((d) => d.reason_code === "RECOVERY_WINDOW_EXCEEDED").length;
          }
        }
        assert.equal(
          await policyEntries(dir),
          expectedEntries,
          "a vrpPolicyChanged entry at each change, before the run it governs",
        );
      } finally {
        await log?.close(); // a failed case leaves nothing open
        rmSync(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 30 },
  );
  console.log(
    `  restarts ${stats.restarts}, policy changes recorded ${stats.changes}, crashes ${stats.crashes}, switches/reattachments ${stats.switches}, switches refused by rate ${stats.switchesRefused}, recovery windows exceeded ${stats.windowsExceeded}`,
  );
  assert.ok(
    stats.switchesRefused > 0 && stats.windowsExceeded > 0 && stats.crashes > 0,
    "the generated runs exercise the policy and crashes",
  );
});

test("the case from the issue: a switch refused under 1 a minute stays refused after a restart with the default 6", async () => {
  const s = "issue-switch";
  let ts = 1_760_000_000_000;
  const request = (event_type: string, details?: Record<string, string>) =>
    StreamEventsRequest.fromPartial({
      event: bridges.VrpEvent.fromJson({
        ts_ms: (ts += 1),
        event_type,
        session_id: s,
        ...(details ? { details } : {}),
      }),
    });

  const strict = await startTestServer({ maxSwitchesPerMinute: 1 });
  let before: ReturnType<typeof strict.vrp.machine.snapshot> | undefined;
  try {
    const answers = summarize(
      await rawStream(strict.target, [
        request("SESSION_CREATED"),
        request("PATH_SELECTED", { transport_id: "a" }),
        request("PATH_SELECTED", { transport_id: "b", replaces: "a" }),
        request("PATH_SELECTED", { transport_id: "c", replaces: "b" }),
      ]),
    );
    assert.equal(
      answers.filter((a) => !a.startsWith("ack")),
      ["stateChange SESSION_BORN", "stateChange PATH_BOUND", "stateChange PATH_SWITCHED", "audit SWITCH_RATE_EXCEEDED"],
    );
    assert.is(strict.vrp.machine.session(s)!.activeTransport, "b");
    before = strict.vrp.machine.snapshot();
  } finally {
    await strict.shutdown(1000);
  }

  const relaxed = await startTestServer({}, strict.dataDir);
  try {
    assert.is(relaxed.vrp.machine.policy.maxSwitchesPerMinute, 6);
    const session = relaxed.vrp.machine.session(s)!;
    assert.is(session.activeTransport, "b", "the rebuilt state says b is active, not c");
    assert.is(session.state, "ATTACHED");
    assert.equal(relaxed.vrp.machine.snapshot(), before);
    assert.equal(relaxed.vrp.machine.snapshot().transports, { b: s });
    // The new policy applies to new events only: the same switch, sent now, is allowed.
    const now = summarize(
      await rawStream(relaxed.target, [request("PATH_SELECTED", { transport_id: "c", replaces: "b" })]),
    );
    assert.equal(
      now.filter((a) => !a.startsWith("ack")),
      ["stateChange PATH_SWITCHED"],
    );
    assert.is(relaxed.vrp.machine.session(s)!.activeTransport, "c");
  } finally {
    await relaxed.shutdown(1000);
  }

  const entries = await policyEntries(strict.dataDir);
  assert.equal(
    entries.map((e) => e.policy),
    [
      { maxRecoveryWindowMs: 30_000, maxSwitchesPerMinute: 1 },
      { maxRecoveryWindowMs: 30_000, maxSwitchesPerMinute: 6 },
    ],
  );
  assert.is(entries[0]!.sequence, 1n, "the first policy precedes every event");
});

test.run();
