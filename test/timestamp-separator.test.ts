/**
 * Issue 9, "bad input at the boundary": a space between date and time
 * ("2026-02-06 12:34:56Z") is not RFC 3339's date-time (its grammar requires
 * "T", or "t"), and Python's jsonschema with its RFC 3339 checker refuses it.
 * Every place that reads a contract timestamp as text refuses it, naming the
 * field and the rule; lower-case "t" passes everywhere.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bridges } from "../src/bridge/index.js";
import { ValidationError } from "../src/contract/errors.js";
import { parseLine } from "../src/archive/lines.js";
import { compileFilter } from "../src/archive/filter.js";
import { validEnd, validStart } from "./support/fixtures.js";
import { seedExamples } from "./support/seed.js";

const SPACE = "2026-02-06 12:34:56Z";
const LOWER_T = "2026-02-06t12:34:56.250z";
const position = { source: "in.jsonl", index: 1, line: 1 };

function issuesOf(fn: () => unknown) {
  try {
    fn();
  } catch (e) {
    assert.instance(e, ValidationError, String(e));
    return (e as ValidationError).issues.map((i) => ({ path: i.path, rule: i.rule, message: i.message }));
  }
  throw new Error("expected a ValidationError");
}

test("the bridge refuses it in every direction that reads JSON (fromJson, toBinary), naming /timestamp and format", () => {
  for (const [bridge, json] of [
    [bridges.SessionStartEvent, { ...validStart(), timestamp: SPACE }],
    [bridges.SessionEndEvent, { ...validEnd(), timestamp: SPACE }],
  ] as const) {
    for (const fn of [() => bridge.fromJson(json), () => bridge.toBinary(json)]) {
      const issues = issuesOf(fn);
      assert.equal(
        issues.map((i) => [i.path, i.rule]),
        [["/timestamp", "format"]],
      );
      assert.match(issues[0]!.message, /"T" \(or "t"\) must separate the date and the time/);
    }
  }
});

test("lower-case t passes and comes back canonical", () => {
  const json = bridges.SessionEndEvent.fromBinary(
    bridges.SessionEndEvent.toBinary({ ...validEnd(), timestamp: LOWER_T }),
  );
  assert.is(json.timestamp, "2026-02-06T12:34:56.250Z");
});

test("the seed's second-67 example is still refused, with the general message", () => {
  const issues = issuesOf(() => bridges.SessionEndEvent.fromJson(seedExamples().endWithSecond67));
  assert.equal(
    issues.map((i) => [i.path, i.rule]),
    [["/timestamp", "format"]],
  );
  assert.match(issues[0]!.message, /seconds 00-59/);
});

test("archive lines: an event's timestamp and a record's received_at", () => {
  const bare = () => parseLine(JSON.stringify({ ...validEnd(), timestamp: SPACE }), position);
  assert.throws(
    bare,
    (e: Error & { issues?: { path: string; rule: string }[] }) =>
      e.issues?.some((i) => i.path === "/timestamp" && i.rule === "format") === true,
  );
  const record = () =>
    parseLine(
      JSON.stringify({
        log_sequence: 1,
        received_at: SPACE,
        entry: "session_ended",
        session_id: "s",
        event: validEnd(),
      }),
      position,
    );
  assert.throws(
    record,
    (e: Error & { issues?: { path: string; rule: string }[] }) =>
      e.issues?.some((i) => i.path === "/received_at" && i.rule === "format") === true,
  );
  assert.not.throws(() => parseLine(JSON.stringify({ ...validEnd(), timestamp: LOWER_T }), position));
});

test("archive filters: --since and --until", () => {
  assert.throws(() => compileFilter({ since: SPACE }), /since.*RFC 3339/s);
  assert.throws(() => compileFilter({ until: "2026-02-06 00:00:00+01:00" }), /until.*RFC 3339/s);
  assert.not.throws(() => compileFilter({ since: LOWER_T }));
});

test.run();
