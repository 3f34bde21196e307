/** The VRP state machine: the table, each invariant, and determinism (property test). */
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { VrpEventJson } from "../src/contract/types.js";
import { KNOWN_VRP_EVENT_TYPES, VRP_SESSION_STATES } from "../src/contract/vrp-vocabulary.js";
import { AUDIT_RULES } from "../src/vrp/audits.js";
import { VrpStateMachine } from "../src/vrp/machine.js";
import { TRANSITIONS } from "../src/vrp/transitions.js";

let clock = 1_700_000_000_000;
const ev = (event_type: string, details?: Record<string, unknown>, session_id = "s1", dt = 1000): VrpEventJson => ({
  ts_ms: (clock += dt),
  event_type,
  session_id,
  ...(details ? { details: details as VrpEventJson["details"] } : {}),
});

function run(machine: VrpStateMachine, events: VrpEventJson[]) {
  return events.flatMap((e, i) => machine.apply(e, i + 1));
}
const codes = (derived: VrpEventJson[]) => derived.map((d) => `${d.event_type}:${d.reason_code}`);

test("a whole life cycle: birth, attach, volatility, degrade, recover, reattach, terminate", () => {
  const m = new VrpStateMachine();
  const derived = run(m, [
    ev("SESSION_CREATED"),
    ev("CANDIDATES_DISCOVERED", { candidates: ["udp/1", "tcp/2"] }),
    ev("PATH_SELECTED", { transport_id: "udp/1" }),
    ev("MUTATION_TICK"),
    ev("VOLATILITY_SIGNAL"),
    ev("VOLATILITY_SIGNAL"),
    ev("RECOVERY_SIGNAL"),
    ev("RECOVERY_SIGNAL"),
    ev("VOLATILITY_SIGNAL"),
    ev("PATH_SELECTED", { transport_id: "tcp/2", replaces: "udp/1" }),
    { ...ev("STATE_CHANGE", { to_state: "TERMINATED" }), reason_code: "USER_EXIT" },
  ]);
  assert.equal(codes(derived), [
    "STATE_CHANGE:SESSION_BORN",
    "STATE_CHANGE:PATH_BOUND",
    "STATE_CHANGE:INSTABILITY_DETECTED",
    "STATE_CHANGE:INSTABILITY_PERSISTED",
    "STATE_CHANGE:STABILITY_WINDOW_OPENED",
    "STATE_CHANGE:RECOVERED",
    "STATE_CHANGE:INSTABILITY_DETECTED",
    "STATE_CHANGE:PATH_REATTACHED",
    "STATE_CHANGE:TERMINATED",
  ]);
  assert.equal(derived.at(-1)!.details, {
    from_state: "ATTACHED",
    to_state: "TERMINATED",
    cause_event_type: "STATE_CHANGE",
    cause_sequence: 11,
    cause_reason_code: "USER_EXIT",
  });
  assert.is(m.session("s1")!.state, "TERMINATED");
  assert.is(m.session("s1")!.activeTransport, undefined);
});

test("every transition is explicit and reason-coded; TERMINATED is final", () => {
  for (const t of TRANSITIONS) {
    assert.ok(t.reason.length > 0 && t.from.length > 0);
    assert.not.ok(t.from.includes("TERMINATED"), "no way out of TERMINATED");
    for (const s of t.from) assert.ok(VRP_SESSION_STATES.includes(s));
  }
  // One row per (state, event): deterministic.
  const keys = TRANSITIONS.flatMap((t) => t.from.map((f) => `${f}/${t.on}`));
  assert.is(new Set(keys).size, keys.length);
  const m = new VrpStateMachine();
  run(m, [ev("SESSION_CREATED"), ev("STATE_CHANGE", { to_state: "TERMINATED" })]);
  assert.equal(codes(run(m, [ev("PATH_SELECTED", { transport_id: "t" })])), ["AUDIT_EVENT:SESSION_TERMINATED"]);
  assert.is(m.session("s1")!.state, "TERMINATED");
});

test("a transition the table does not allow leaves the state and audits, naming the rule", () => {
  const m = new VrpStateMachine();
  run(m, [ev("SESSION_CREATED")]);
  const [a] = run(m, [ev("RECOVERY_SIGNAL")]);
  assert.is(a!.event_type, "AUDIT_EVENT");
  assert.is(a!.reason_code, "TRANSITION_NOT_ALLOWED");
  assert.is(a!.details!.state, "BIRTH");
  assert.is(a!.details!.message, AUDIT_RULES.TRANSITION_NOT_ALLOWED);
  assert.is(m.session("s1")!.state, "BIRTH");
  assert.equal(codes(run(m, [ev("SESSION_CREATED")])), ["AUDIT_EVENT:TRANSITION_NOT_ALLOWED"]);
  assert.equal(codes(run(m, [ev("PATH_SELECTED", { transport_id: "t" }, "ghost")])), [
    "AUDIT_EVENT:SESSION_NOT_CREATED",
  ]);
});

test("each invariant, violated once, gives its own audit and leaves the state alone", () => {
  const m = new VrpStateMachine({ maxRecoveryWindowMs: 10_000, maxSwitchesPerMinute: 2 });
  run(m, [
    ev("SESSION_CREATED"),
    ev("PATH_SELECTED", { transport_id: "a" }),
    ev("SESSION_CREATED", undefined, "s2"),
    ev("PATH_SELECTED", { transport_id: "z" }, "s2"),
  ]);
  const cases: [VrpEventJson, string][] = [
    [ev("PATH_SELECTED", { transport_ids: ["b", "c"] }), "MULTIPLE_ACTIVE_TRANSPORTS"],
    [ev("PATH_SELECTED", {}), "TRANSPORT_UNSPECIFIED"],
    [ev("PATH_SELECTED", { transport_id: "b" }), "DUAL_ACTIVE_BINDING"],
    [ev("PATH_SELECTED", { transport_id: "a" }, "s2"), "SESSION_ID_CHANGED_ON_REATTACH"],
  ];
  for (const [event, rule] of cases) {
    const before = JSON.stringify(m.snapshot());
    assert.equal(codes(m.apply(event, 0)), [`AUDIT_EVENT:${rule}`], rule);
    assert.is(JSON.stringify(m.snapshot()), before, `${rule} changed state`);
  }
  // Switches per minute: two allowed, the third refused.
  assert.equal(codes(run(m, [ev("PATH_SELECTED", { transport_id: "b", replaces: "a" }, "s1", 1)])), [
    "STATE_CHANGE:PATH_SWITCHED",
  ]);
  assert.equal(codes(run(m, [ev("PATH_SELECTED", { transport_id: "c", replaces: "b" }, "s1", 1)])), [
    "STATE_CHANGE:PATH_SWITCHED",
  ]);
  assert.equal(codes(run(m, [ev("PATH_SELECTED", { transport_id: "d", replaces: "c" }, "s1", 1)])), [
    "AUDIT_EVENT:SWITCH_RATE_EXCEEDED",
  ]);
  assert.is(m.session("s1")!.activeTransport, "c");
  // A minute later, switching is allowed again; the old transport is released.
  assert.equal(codes(run(m, [ev("PATH_SELECTED", { transport_id: "d", replaces: "c" }, "s1", 61_000)])), [
    "STATE_CHANGE:PATH_SWITCHED",
  ]);
  // Recovery window: out of ATTACHED longer than 10 s, once per episode.
  run(m, [ev("VOLATILITY_SIGNAL")]);
  assert.equal(codes(run(m, [ev("MUTATION_TICK", undefined, "s1", 11_000)])), ["AUDIT_EVENT:RECOVERY_WINDOW_EXCEEDED"]);
  assert.equal(codes(run(m, [ev("MUTATION_TICK")])), []);
  assert.equal(codes(run(m, [ev("RECOVERY_SIGNAL")])), ["STATE_CHANGE:STABILIZED"]);
});

test("unknown event types never change state; a reattach keeps the session id", () => {
  const m = new VrpStateMachine();
  run(m, [ev("SESSION_CREATED"), ev("PATH_SELECTED", { transport_id: "a" })]);
  const before = JSON.stringify(m.snapshot());
  assert.equal(run(m, [ev("QUANTUM_FLUX", { anything: true }), ev("PATH_PROBED")]), []);
  assert.is(JSON.stringify(m.snapshot()), before);
  run(m, [ev("VOLATILITY_SIGNAL"), ev("VOLATILITY_SIGNAL")]);
  assert.equal(codes(run(m, [ev("PATH_SELECTED", { transport_id: "a" })])), ["STATE_CHANGE:PATH_REATTACHED"]);
});

// --- determinism -------------------------------------------------------------

const eventArb = fc.record({
  dt: fc.integer({ min: 0, max: 20_000 }),
  event_type: fc.oneof(fc.constantFrom(...KNOWN_VRP_EVENT_TYPES), fc.constantFrom("PATH_PROBED", "X_UNKNOWN")),
  session_id: fc.constantFrom("s1", "s2", "s3"),
  transport: fc.constantFrom("a", "b", "c", "d"),
  replaces: fc.option(fc.constantFrom("a", "b", "c", "d"), { nil: undefined }),
  node: fc.option(fc.constantFrom("n1", "n2"), { nil: undefined }),
  to_state: fc.option(fc.constantFrom(...VRP_SESSION_STATES, "NOT_A_STATE"), { nil: undefined }),
  from_state: fc.option(fc.constantFrom(...VRP_SESSION_STATES), { nil: undefined }),
  reason_code: fc.option(fc.constantFrom("USER_EXIT", "LINK_OK"), { nil: undefined }),
});

type RawEvent = typeof eventArb extends fc.Arbitrary<infer T> ? T : never;

function toEvents(raw: RawEvent[]): VrpEventJson[] {
  let ts = 1_700_000_000_000;
  return raw.map((r) => {
    ts += r.dt;
    const declared = {
      ...(r.to_state ? { to_state: r.to_state } : {}),
      ...(r.from_state ? { from_state: r.from_state } : {}),
    };
    const details: Record<string, unknown> =
      r.event_type === "PATH_SELECTED"
        ? { transport_id: r.transport, ...(r.replaces ? { replaces: r.replaces } : {}) }
        : r.event_type === "STATE_CHANGE"
          ? declared
          : {};
    return {
      ts_ms: ts,
      event_type: r.event_type,
      session_id: r.session_id,
      ...(r.node ? { node_id: r.node } : {}),
      ...(r.reason_code ? { reason_code: r.reason_code } : {}),
      details,
    } as VrpEventJson;
  });
}

test("determinism: the same events twice give identical states and derived events", () => {
  fc.assert(
    fc.property(fc.array(eventArb, { maxLength: 80 }), (raw) => {
      const events = toEvents(raw);
      const a = new VrpStateMachine();
      const b = new VrpStateMachine();
      assert.equal(run(a, events), run(b, events));
      assert.equal(a.snapshot(), b.snapshot());
      // Invariant: at most one active transport per session, and no (node, transport) held by two sessions.
      const owners = Object.entries(a.snapshot().transports);
      for (const [id, s] of Object.entries(a.snapshot().sessions)) {
        assert.ok(owners.filter(([, owner]) => owner === id).length <= 1);
        if (s.activeTransport)
          assert.is(
            a.snapshot().transports[
              s.activeNode === undefined ? s.activeTransport : `${s.activeNode}\u0000${s.activeTransport}`
            ],
            id,
          );
      }
    }),
    { numRuns: 300 },
  );
});

test("replay restores: applying the stored outcomes gives the state deciding them gave, for any sequence", () => {
  fc.assert(
    fc.property(fc.array(eventArb, { maxLength: 80 }), (raw) => {
      const events = toEvents(raw);
      const live = new VrpStateMachine();
      const outcomes = events.map((e, i) => live.apply(e, i + 1));
      // A machine with another policy restores the same state: outcomes are read, not recomputed.
      const restored = new VrpStateMachine({ maxRecoveryWindowMs: 1, maxSwitchesPerMinute: 1 });
      for (const [i, e] of events.entries()) restored.restore(e, outcomes[i]!);
      assert.equal(restored.snapshot(), live.snapshot());
    }),
    { numRuns: 300 },
  );
});

// --- declared transitions (a producer's STATE_CHANGE with details.to_state) ---------------

/** A machine with session s1 in `state`, reached through the table. */
function inState(state: string): VrpStateMachine {
  const m = new VrpStateMachine();
  const path: Record<string, VrpEventJson[]> = {
    BIRTH: [ev("SESSION_CREATED")],
    ATTACHED: [ev("SESSION_CREATED"), ev("PATH_SELECTED", { transport_id: "t" })],
    VOLATILE: [ev("SESSION_CREATED"), ev("PATH_SELECTED", { transport_id: "t" }), ev("VOLATILITY_SIGNAL")],
    DEGRADED: [
      ev("SESSION_CREATED"),
      ev("PATH_SELECTED", { transport_id: "t" }),
      ev("VOLATILITY_SIGNAL"),
      ev("VOLATILITY_SIGNAL"),
    ],
    TERMINATED: [ev("SESSION_CREATED"), ev("STATE_CHANGE", { to_state: "TERMINATED" })],
  };
  run(m, path[state]!);
  assert.is(m.session("s1")!.state, state);
  return m;
}

const DECLARED: { from: string; details: Record<string, unknown>; reason?: string; expect: string[]; state: string }[] =
  [
    {
      from: "BIRTH",
      details: { to_state: "ATTACHED", from_state: "BIRTH" },
      expect: ["STATE_CHANGE:PATH_BOUND"],
      state: "ATTACHED",
    },
    {
      from: "BIRTH",
      details: { to_state: "ATTACHED" },
      reason: "LINK_UP",
      expect: ["STATE_CHANGE:LINK_UP"],
      state: "ATTACHED",
    },
    {
      from: "ATTACHED",
      details: { to_state: "VOLATILE" },
      expect: ["STATE_CHANGE:INSTABILITY_DETECTED"],
      state: "VOLATILE",
    },
    {
      from: "VOLATILE",
      details: { to_state: "ATTACHED", from_state: "VOLATILE" },
      expect: ["STATE_CHANGE:PATH_REATTACHED"],
      state: "ATTACHED",
    },
    {
      from: "DEGRADED",
      details: { to_state: "RECOVERING" },
      expect: ["STATE_CHANGE:STABILITY_WINDOW_OPENED"],
      state: "RECOVERING",
    },
    {
      from: "BIRTH",
      details: { to_state: "DEGRADED" },
      expect: ["AUDIT_EVENT:DECLARED_TRANSITION_NOT_ALLOWED"],
      state: "BIRTH",
    },
    {
      from: "ATTACHED",
      details: { to_state: "RECOVERING" },
      expect: ["AUDIT_EVENT:DECLARED_TRANSITION_NOT_ALLOWED"],
      state: "ATTACHED",
    },
    {
      from: "ATTACHED",
      details: { to_state: "NOT_A_STATE" },
      expect: ["AUDIT_EVENT:DECLARED_TRANSITION_NOT_ALLOWED"],
      state: "ATTACHED",
    },
    {
      from: "ATTACHED",
      details: { to_state: "VOLATILE", from_state: "BIRTH" },
      expect: ["AUDIT_EVENT:DECLARED_FROM_STATE_MISMATCH", "STATE_CHANGE:INSTABILITY_DETECTED"],
      state: "VOLATILE",
    },
    { from: "ATTACHED", details: { to_state: "ATTACHED" }, expect: [], state: "ATTACHED" },
    {
      from: "ATTACHED",
      details: { to_state: "TERMINATED" },
      reason: "USER_EXIT",
      expect: ["STATE_CHANGE:TERMINATED"],
      state: "TERMINATED",
    },
    { from: "ATTACHED", details: {}, expect: ["AUDIT_EVENT:TRANSITION_NOT_ALLOWED"], state: "ATTACHED" },
    {
      from: "TERMINATED",
      details: { to_state: "ATTACHED" },
      expect: ["AUDIT_EVENT:SESSION_TERMINATED"],
      state: "TERMINATED",
    },
  ];

for (const row of DECLARED) {
  test(`declared: ${row.from} + STATE_CHANGE ${JSON.stringify(row.details)}${row.reason ? ` (${row.reason})` : ""} -> ${row.expect.join(", ") || "nothing"}; ${row.state}`, () => {
    const m = inState(row.from);
    const event = { ...ev("STATE_CHANGE", row.details), ...(row.reason ? { reason_code: row.reason } : {}) };
    const derived = run(m, [event]);
    assert.equal(codes(derived), row.expect);
    assert.is(m.session("s1")!.state, row.state);
    const change = derived.find((d) => d.event_type === "STATE_CHANGE");
    if (change)
      assert.equal(
        { from: change.details!.from_state, to: change.details!.to_state },
        { from: row.from, to: row.state },
      );
    for (const a of derived.filter(
      (d) => d.event_type === "AUDIT_EVENT" && String(d.reason_code).startsWith("DECLARED"),
    )) {
      assert.is(a.details!.state, row.from, "the audit names the current state");
      assert.is(a.details!.declared_to_state, row.details.to_state, "and the declared one");
    }
  });
}

test("transport ownership is per node: the same transport id on two nodes binds two sessions", () => {
  const m = new VrpStateMachine();
  const on = (node: string | undefined, e: VrpEventJson): VrpEventJson => (node ? { ...e, node_id: node } : e);
  run(m, [
    ev("SESSION_CREATED", undefined, "s1"),
    ev("SESSION_CREATED", undefined, "s2"),
    ev("SESSION_CREATED", undefined, "s3"),
  ]);
  assert.equal(codes(run(m, [on("node-a", ev("PATH_SELECTED", { transport_id: "udp/443" }, "s1"))])), [
    "STATE_CHANGE:PATH_BOUND",
  ]);
  assert.equal(codes(run(m, [on("node-b", ev("PATH_SELECTED", { transport_id: "udp/443" }, "s2"))])), [
    "STATE_CHANGE:PATH_BOUND",
  ]);
  // On the same node it is still one session's.
  assert.equal(codes(run(m, [on("node-a", ev("PATH_SELECTED", { transport_id: "udp/443" }, "s3"))])), [
    "AUDIT_EVENT:SESSION_ID_CHANGED_ON_REATTACH",
  ]);
  // Terminating s1 frees node-a's udp/443 for s3.
  run(m, [ev("STATE_CHANGE", { to_state: "TERMINATED" }, "s1")]);
  assert.equal(codes(run(m, [on("node-a", ev("PATH_SELECTED", { transport_id: "udp/443" }, "s3"))])), [
    "STATE_CHANGE:PATH_BOUND",
  ]);
});

test.run();
