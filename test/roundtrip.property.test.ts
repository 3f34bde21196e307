/**
 * Property tests: for valid events of every type, JSON -> proto -> JSON and
 * proto -> JSON -> proto are lossless, through objects and through bytes.
 * Canonical JSON (UTC "Z", 0/3/6/9 fraction digits) round-trips exactly; other
 * spellings of an instant are normalised, and the instant is kept.
 */
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bridges } from "../src/bridge/index.js";
import type { Bridge } from "../src/bridge/bridge.js";
import * as arb from "./support/arbitraries.js";

const RUNS = { numRuns: 300 };

// biome-ignore lint/suspicious/noExplicitAny: the tables below hold differently typed bridges, arbitraries and codecs
type Untyped = any;

const jsonCases: [string, Bridge<Untyped, Untyped>, fc.Arbitrary<Untyped>][] = [
  ["SessionStartEvent", bridges.SessionStartEvent, arb.sessionStartJson],
  ["SessionEndEvent", bridges.SessionEndEvent, arb.sessionEndJson],
  ["UserInfo", bridges.UserInfo, arb.userInfoJson],
  ["EnvironmentInfo", bridges.EnvironmentInfo, arb.environmentInfoJson],
  ["VrpEvent", bridges.VrpEvent, arb.vrpJson],
];

for (const [name, bridge, json] of jsonCases) {
  test(`${name}: JSON -> proto -> JSON is lossless`, () => {
    fc.assert(
      fc.property(json, (j) => assert.equal(bridge.toJson(bridge.fromJson(j)), j)),
      RUNS,
    );
  });
  test(`${name}: JSON -> bytes -> JSON is lossless`, () => {
    fc.assert(
      fc.property(json, (j) => assert.equal(bridge.fromBinary(bridge.toBinary(j)), j)),
      RUNS,
    );
  });
}

const messageCases: [
  string,
  Bridge<Untyped, Untyped>,
  fc.Arbitrary<Untyped>,
  { encode(m: Untyped): { finish(): Uint8Array }; fromPartial(m: Untyped): Untyped },
][] = [
  [
    "SessionStartEvent",
    bridges.SessionStartEvent,
    arb.sessionStartMessage,
    (await import("../gen/oneiric/session/v1/session_events.js")).SessionStartEvent,
  ],
  [
    "SessionEndEvent",
    bridges.SessionEndEvent,
    arb.sessionEndMessage,
    (await import("../gen/oneiric/session/v1/session_events.js")).SessionEndEvent,
  ],
  ["VrpEvent", bridges.VrpEvent, arb.vrpMessage, (await import("../gen/vrp/v1alpha1/vrp_event.js")).VrpEvent],
];

for (const [name, bridge, message, type] of messageCases) {
  test(`${name}: proto -> JSON -> proto is lossless, and the bridge builds complete messages`, () => {
    fc.assert(
      fc.property(message, (m) => {
        const back = bridge.fromJson(bridge.toJson(m));
        assert.equal(back, type.fromPartial(m));
        // A complete message: fromPartial adds nothing the bridge left out.
        assert.equal(type.fromPartial(back), back);
        assert.equal(type.encode(back).finish(), type.encode(m).finish());
      }),
      RUNS,
    );
  });
}

test("normalisation: any offset and fraction keep the instant, and come back canonical", () => {
  const offsetTimestamp = fc
    .record({
      base: arb.canonicalTimestamp.filter((t) => t >= "0002" && t < "9999"),
      sign: fc.constantFrom("+", "-"),
      hours: fc.integer({ min: 0, max: 23 }),
      minutes: fc.integer({ min: 0, max: 59 }),
      extraDigits: fc.stringMatching(/^[0-9]{0,4}$/),
    })
    .map(({ base, sign, hours, minutes, extraDigits }) => {
      const [withoutZ] = base.split("Z");
      const frac = withoutZ!.includes(".") ? extraDigits : extraDigits ? `.${extraDigits}` : "";
      return `${withoutZ}${frac}${sign}${String(hours).padStart(2, "0")}:${String(minutes).padStart(2, "0")}`;
    });
  fc.assert(
    fc.property(offsetTimestamp, (ts) => {
      const event = { session_id: "s", timestamp: ts };
      const out = bridges.SessionEndEvent.toJson(bridges.SessionEndEvent.fromJson(event));
      assert.match(out.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6}|\.\d{9})?Z$/);
      // Date.parse (whole seconds: its sub-millisecond parsing is not to be
      // trusted) is an independent oracle for the instant; the fraction's
      // first nine digits must survive as they are.
      const [secondsIn, fracIn] = splitFraction(ts);
      const [secondsOut, fracOut] = splitFraction(out.timestamp);
      assert.is(Date.parse(secondsOut), Date.parse(secondsIn), `${ts} -> ${out.timestamp}`);
      assert.is(fracOut.padEnd(9, "0"), fracIn.slice(0, 9).padEnd(9, "0"), `${ts} -> ${out.timestamp}`);
      // The same instant, written canonically, is a fixed point.
      assert.equal(bridges.SessionEndEvent.toJson(bridges.SessionEndEvent.fromJson(out)), out);
    }),
    RUNS,
  );
});

/** "…:56.789+01:00" -> ["…:56+01:00", "789"] */
function splitFraction(ts: string): [string, string] {
  const m = /^(.*:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(ts)!;
  return [`${m[1]}${m[3]}`, m[2] ?? ""];
}

test.run();
