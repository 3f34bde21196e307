/** VRP dialect maps: mapVrpLine line by line, the map's own checks, and the shipped maps. */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bridges } from "../src/bridge/index.js";
import { ValidationError } from "../src/contract/errors.js";
import { locateJsonSyntaxError } from "../src/contract/json-syntax.js";
import { loadVrpDialectMap, mapVrpLine, validateVrpDialectMap, type VrpDialectMap } from "../src/index.js";
import { repoRoot, tempDir } from "./support/repo.js";

/** The flat-payload producer: payload at the top level, active_path, previous_state/new_state, `event`. */
const FLAT: VrpDialectMap = {
  rename: {
    event: "event_type",
    active_path: "details.transport_id",
    previous_state: "details.from_state",
    new_state: "details.to_state",
  },
  unknown_keys: "details",
};
/** The lower-case producer: `event`, lower_snake types, reason codes and states, "#" comments. */
const LOWER: VrpDialectMap = {
  rename: { event: "event_type" },
  normalise: { event_type: "upper", reason_code: "upper", "details.to_state": "upper" },
  skip_lines_starting_with: ["#", "//"],
};
const CONTRACT: VrpDialectMap = {};
const LENIENT: VrpDialectMap = { unknown_keys: "details" };

type Expect =
  | { event: object; moved?: string[] }
  | { skip: "blank" | "prefix" }
  | { refused: [path: string, rule: string, message?: RegExp][] };

const cases: [name: string, map: VrpDialectMap, line: string, expect: Expect][] = [
  // the contract's own dialect
  [
    "a contract line passes unchanged",
    CONTRACT,
    '{"ts_ms":5,"event_type":"MUTATION_TICK","session_id":"s"}',
    { event: { ts_ms: 5, event_type: "MUTATION_TICK", session_id: "s" } },
  ],
  [
    "an unknown event type passes (forward compatible)",
    CONTRACT,
    '{"ts_ms":5,"event_type":"HEARTBEAT","session_id":"s"}',
    { event: { ts_ms: 5, event_type: "HEARTBEAT", session_id: "s" } },
  ],
  ["a blank line is skipped", CONTRACT, "   \t", { skip: "blank" }],
  ["an empty line is skipped", CONTRACT, "", { skip: "blank" }],
  [
    "a stray top-level key is refused, pointing to details",
    CONTRACT,
    '{"ts_ms":5,"event_type":"X","session_id":"s","rtt_ms":4}',
    { refused: [["/rtt_ms", "additionalProperties", /free-form data belongs under details/]] },
  ],
  [
    "a number written +8 is refused at its field",
    CONTRACT,
    '{"ts_ms":+8,"event_type":"X","session_id":"s"}',
    { refused: [["/ts_ms", "json", /column 10: a number cannot start with "\+"/]] },
  ],
  [
    "a trailing comma is refused",
    CONTRACT,
    '{"ts_ms":8,"event_type":"X","session_id":"s",}',
    { refused: [["", "json", /trailing comma/]] },
  ],
  [
    "NaN is not JSON",
    CONTRACT,
    '{"ts_ms":NaN,"event_type":"X","session_id":"s"}',
    { refused: [["/ts_ms", "json", /NaN and Infinity/]] },
  ],
  ["a line that is not an object is refused", CONTRACT, "[1,2]", { refused: [["", "type", /one event a line/]] }],
  [
    "an unsafe ts_ms is refused by the contract",
    CONTRACT,
    '{"ts_ms":9007199254740993,"event_type":"X","session_id":"s"}',
    { refused: [["/ts_ms", "maximum"]] },
  ],
  [
    "__proto__ at the top level is refused",
    LENIENT,
    '{"ts_ms":1,"event_type":"X","session_id":"s","__proto__":{"polluted":true}}',
    { refused: [["/__proto__", "forbidden_key"]] },
  ],
  [
    "constructor at the top level is refused",
    LENIENT,
    '{"ts_ms":1,"event_type":"X","session_id":"s","constructor":{"prototype":1}}',
    { refused: [["/constructor", "forbidden_key"]] },
  ],
  [
    "__proto__ inside details is refused",
    CONTRACT,
    '{"ts_ms":1,"event_type":"X","session_id":"s","details":{"__proto__":{"polluted":true}}}',
    { refused: [["/details/__proto__", "forbidden_key"]] },
  ],
  // the flat-payload dialect
  [
    "flat payload: event, active_path and unknown keys become the envelope",
    FLAT,
    '{"ts_ms":7,"event":"PATH_SELECTED","session_id":"s","active_path":"udp/1","rtt_ms":12,"replaces":"tcp/0"}',
    {
      event: {
        ts_ms: 7,
        event_type: "PATH_SELECTED",
        session_id: "s",
        details: { transport_id: "udp/1", rtt_ms: 12, replaces: "tcp/0" },
      },
      moved: ["rtt_ms", "replaces"],
    },
  ],
  [
    "flat payload: previous_state/new_state become details.from_state/to_state",
    FLAT,
    '{"ts_ms":7,"event":"STATE_CHANGE","session_id":"s","previous_state":"ATTACHED","new_state":"TERMINATED","reason_code":"USER_EXIT"}',
    {
      event: {
        ts_ms: 7,
        event_type: "STATE_CHANGE",
        session_id: "s",
        reason_code: "USER_EXIT",
        details: { from_state: "ATTACHED", to_state: "TERMINATED" },
      },
      moved: [],
    },
  ],
  [
    "flat payload: renamed keys join the line's own details",
    FLAT,
    '{"ts_ms":7,"event":"PATH_SELECTED","session_id":"s","active_path":"udp/1","details":{"hop":3}}',
    {
      event: { ts_ms: 7, event_type: "PATH_SELECTED", session_id: "s", details: { hop: 3, transport_id: "udp/1" } },
      moved: [],
    },
  ],
  [
    "flat payload: event and event_type on one line collide",
    FLAT,
    '{"ts_ms":7,"event":"A","event_type":"B","session_id":"s"}',
    { refused: [["/event_type", "collision", /line key "event"/]] },
  ],
  [
    "flat payload: a moved key that details already has collides",
    FLAT,
    '{"ts_ms":7,"event":"A","session_id":"s","hop":1,"details":{"hop":2}}',
    { refused: [["/details/hop", "collision", /line key "hop", moved under details/]] },
  ],
  [
    "flat payload: details that is not an object cannot take a renamed key",
    FLAT,
    '{"ts_ms":7,"event":"A","session_id":"s","active_path":"u","details":"x"}',
    { refused: [["/details", "type"]] },
  ],
  [
    "flat payload: a contract problem names the line key it came from",
    FLAT,
    '{"ts_ms":7,"event":"","session_id":"s"}',
    { refused: [["/event_type", "minLength", /\(from line key "event"\)/]] },
  ],
  [
    "flat payload: a missing field is still required",
    FLAT,
    '{"ts_ms":7,"session_id":"s"}',
    { refused: [["/event_type", "required"]] },
  ],
  [
    "flat payload: +8 is refused, not repaired",
    FLAT,
    '{"event":"A","session_id":"s","ts_ms":+8}',
    { refused: [["/ts_ms", "json"]] },
  ],
  // the lower-case dialect
  [
    "lower case: event and reason code are upper-cased",
    LOWER,
    '{"ts_ms":1,"event":"state_change","session_id":"s","reason_code":"user_exit","details":{"to_state":"terminated"}}',
    {
      event: {
        ts_ms: 1,
        event_type: "STATE_CHANGE",
        session_id: "s",
        reason_code: "USER_EXIT",
        details: { to_state: "TERMINATED" },
      },
      moved: [],
    },
  ],
  ["lower case: a comment line is skipped", LOWER, '   # from edge-9 {"ts_ms":1}', { skip: "prefix" }],
  ["lower case: a // comment line is skipped", LOWER, "// from edge-9", { skip: "prefix" }],
  [
    "lower case: a non-string at a normalised path is left to the contract",
    LOWER,
    '{"ts_ms":1,"event":7,"session_id":"s"}',
    { refused: [["/event_type", "type"]] },
  ],
  [
    "lower case: unknown keys are still refused (unknown_keys defaults to refuse)",
    LOWER,
    '{"ts_ms":1,"event":"x","session_id":"s","rtt":1}',
    { refused: [["/rtt", "additionalProperties"]] },
  ],
  // whole-details and nested targets
  [
    "rename into details itself",
    { rename: { payload: "details" } },
    '{"ts_ms":1,"event_type":"X","session_id":"s","payload":{"a":1}}',
    { event: { ts_ms: 1, event_type: "X", session_id: "s", details: { a: 1 } }, moved: [] },
  ],
  [
    "rename into a nested details path",
    { rename: { loss: "details.link.loss" } },
    '{"ts_ms":1,"event_type":"X","session_id":"s","loss":0.5}',
    { event: { ts_ms: 1, event_type: "X", session_id: "s", details: { link: { loss: 0.5 } } }, moved: [] },
  ],
  [
    "renames apply at once (no chains): a->b and b->c",
    { rename: { a: "details.b", b: "details.c" } },
    '{"ts_ms":1,"event_type":"X","session_id":"s","a":1,"b":2}',
    { event: { ts_ms: 1, event_type: "X", session_id: "s", details: { b: 1, c: 2 } }, moved: [] },
  ],
];

for (const [name, map, line, expect] of cases) {
  test(`mapVrpLine: ${name}`, () => {
    const result = mapVrpLine(line, map);
    if ("event" in expect) {
      assert.is(result.kind, "event", JSON.stringify(result));
      if (result.kind !== "event") return;
      assert.equal(result.event, expect.event);
      assert.equal([...result.moved], expect.moved ?? []);
      bridges.VrpEvent.fromJson(result.event); // what comes out is what the wire takes
    } else if ("skip" in expect) {
      assert.equal(result, { kind: "skip", reason: expect.skip });
    } else {
      assert.is(result.kind, "refused", JSON.stringify(result));
      if (result.kind !== "refused") return;
      assert.equal(
        result.issues.map((i) => [i.path, i.rule]),
        expect.refused.map(([p, r]) => [p, r]),
        JSON.stringify(result.issues),
      );
      for (const [i, [, , message]] of expect.refused.entries())
        if (message) assert.match(result.issues[i]!.message, message);
    }
  });
}

test("mapVrpLine: no line reaches an object prototype", () => {
  const lines = [
    '{"ts_ms":1,"event_type":"X","session_id":"s","__proto__":{"polluted":1}}',
    '{"ts_ms":1,"event_type":"X","session_id":"s","details":{"__proto__":{"polluted":1}}}',
    '{"ts_ms":1,"event":"X","session_id":"s","active_path":{"__proto__":{"polluted":1}}}',
    '{"ts_ms":1,"event_type":"X","session_id":"s","prototype":{"polluted":1}}',
  ];
  for (const map of [CONTRACT, LENIENT, FLAT]) {
    for (const line of lines) {
      const result = mapVrpLine(line, map);
      assert.is(result.kind, "refused", `${line}: ${JSON.stringify(result)}`);
      assert.ok(
        result.kind === "refused" &&
          result.issues.some((i) => i.rule === "forbidden_key" || i.rule === "additionalProperties"),
        JSON.stringify(result),
      );
    }
  }
  assert.is(({} as Record<string, unknown>).polluted, undefined);
  assert.is(Object.hasOwn(Object.prototype, "polluted"), false);
});

test("the map is checked: each problem with its field and rule", () => {
  const bad: [unknown, [string, string][]][] = [
    [{ rename: { event: "evt" } }, [["/rename/event", "pattern"]]],
    [{ rename: { a: "details.__proto__" } }, [["/rename/a", "forbidden_key"]]],
    [{ rename: { a: "details.x.constructor" } }, [["/rename/a", "forbidden_key"]]],
    [JSON.parse('{"rename":{"__proto__":"details.x"}}'), [["/rename/__proto__", "forbidden_key"]]],
    [{ rename: { a: "details..x" } }, [["/rename/a", "pattern"]]],
    [{ rename: { a: 1 } }, [["/rename/a", "type"]]],
    [{ unknown_keys: "drop" }, [["/unknown_keys", "enum"]]],
    [{ normalise: { reason_code: "title" } }, [["/normalise/reason_code", "enum"]]],
    [{ normalise: { colour: "upper" } }, [["/normalise/colour", "pattern"]]],
    [{ skip_lines_starting_with: ["{"] }, [["/skip_lines_starting_with/0", "pattern"]]],
    [{ skip_lines_starting_with: "#" }, [["/skip_lines_starting_with", "type"]]],
    [{ renames: {} }, [["/renames", "additionalProperties"]]],
    [[], [["", "type"]]],
  ];
  for (const [map, expected] of bad) {
    try {
      validateVrpDialectMap(map);
      assert.unreachable(`${JSON.stringify(map)} was taken`);
    } catch (e) {
      assert.instance(e, ValidationError, String(e));
      assert.equal(
        (e as ValidationError).issues.map((i) => [i.path, i.rule]),
        expected,
        `${JSON.stringify(map)}: ${(e as Error).message}`,
      );
    }
  }
  // mapVrpLine checks a map it is given, too
  assert.throws(
    () => mapVrpLine("{}", { unknown_keys: "drop" } as unknown as VrpDialectMap),
    /\/unknown_keys: must be one of refuse, details/,
  );
});

test("loadVrpDialectMap: the shipped maps load and hold what their README says", async () => {
  const dir = path.join(repoRoot, "docs/vrp-dialects");
  const flat = await loadVrpDialectMap(path.join(dir, "flat-payload.json"));
  assert.equal(flat.rename, FLAT.rename);
  assert.is(flat.unknown_keys, "details");
  const lower = await loadVrpDialectMap(path.join(dir, "event-lowercase.yaml"));
  assert.equal(lower.rename, { event: "event_type" });
  assert.equal(lower.normalise, { event_type: "upper", reason_code: "upper", "details.to_state": "upper" });
  assert.equal(lower.skip_lines_starting_with, ["#"]);
});

test("loadVrpDialectMap: bad JSON, bad YAML and a bad field are refused with path and rule", async () => {
  const dir = tempDir("dialect-");
  const write = (name: string, text: string) => {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    return file;
  };
  const cases: [string, RegExp][] = [
    [
      write("trailing.json", '{"rename": {"event": "event_type",}}'),
      /\/rename: is not valid JSON at column \d+: a trailing comma .*\[json\]/,
    ],
    [
      write("dup.yaml", "rename:\n  event: event_type\nrename:\n  x: details.x\n"),
      /holds a key twice \(the first would be lost\): Map keys must be unique at line 3, column 1 \[duplicate_key\]/,
    ],
    [
      write("dup.json", '{"rename": {"event": "event_type"}, "rename": {"x": "details.x"}}'),
      /holds a key twice .*\[duplicate_key\]/,
    ],
    [write("tag.yaml", "unknown_keys: !keep details\n"), /is not valid YAML: Unresolved tag: !keep .*\[yaml\]/],
    [write("indent.yaml", "rename:\n  event: event_type\n x: 1\n"), /is not valid YAML: .*\[yaml\]/],
    [
      write("proto.yaml", "rename:\n  __proto__: details.x\n"),
      /\/rename\/__proto__: key "__proto__" is refused .*\[forbidden_key\]/,
    ],
    [
      write("field.yml", "unknown_keys: keep\n"),
      /\/unknown_keys: must be one of refuse, details \(got "keep"\) \[enum\]/,
    ],
  ];
  for (const [file, message] of cases) {
    try {
      await loadVrpDialectMap(file);
      assert.unreachable(`${file} was taken`);
    } catch (e) {
      assert.instance(e, ValidationError, String(e));
      assert.match((e as Error).message, message);
      assert.ok((e as Error).message.includes(file), "the message names the file");
    }
  }
});

test("locateJsonSyntaxError: the field and column of the first problem", () => {
  const cases: [string, string, number, RegExp][] = [
    ['{"ts_ms":+8}', "/ts_ms", 10, /cannot start with "\+"/],
    ['{"a":{"b":[1,2,.5]}}', "/a/b/2", 16, /cannot start with "\."/],
    ['{"a":01}', "/a", 7, /leading zero/],
    ["{'a':1}", "", 2, /property names must be strings in double quotes/],
    ['{"a":1 "b":2}', "/a", 8, /expected "," or "}"/],
    ['{"a":"x\ty"}', "/a", 8, /control characters/],
    ['{"a":"\\x"}', "/a", 7, /"\\\\x" is not a JSON escape/],
    ['{"a":tru}', "/a", 6, /expected a value/],
    ['{"a":1', "/a", 7, /not closed/],
    ['{"a":1} {}', "", 9, /text after the JSON value/],
    ['{"a":[1,]}', "/a", 9, /trailing comma before "\]"/],
    ['{"a":-}', "/a", 7, /expected a digit after "-"/],
    ['{"a":1e}', "/a", 8, /exponent/],
  ];
  for (const [text, pointer, column, message] of cases) {
    assert.throws(() => JSON.parse(text));
    const found = locateJsonSyntaxError(text);
    assert.ok(found, text);
    assert.is(found!.pointer, pointer, text);
    assert.is(found!.column, column, text);
    assert.match(found!.message, message, text);
  }
  for (const valid of ['{"a":[1,-2.5e+3,true,false,null,"\\u00e9\\n"]}', " 1 ", '"x"'])
    assert.is(locateJsonSyntaxError(valid), undefined, valid);
  assert.is(
    locateJsonSyntaxError("[".repeat(10_000)),
    undefined,
    "too deep to walk: the caller keeps JSON.parse's message",
  );
});

test("the VRP contract's refusal of a stray top-level key points to details, as the session contract's points to metadata", () => {
  try {
    bridges.VrpEvent.fromJson({ ts_ms: 1, event_type: "X", session_id: "s", state: "BIRTH" });
    assert.unreachable();
  } catch (e) {
    assert.match(
      (e as Error).message,
      /\/state: is not a field of this contract \(free-form data belongs under details\) \[additionalProperties\]/,
    );
  }
  try {
    bridges.SessionEndEvent.fromJson({ session_id: "s", timestamp: "2026-02-06T13:45:07.890Z", colour: "red" });
    assert.unreachable();
  } catch (e) {
    assert.match(
      (e as Error).message,
      /\/colour: is not a field of this contract \(free-form data belongs under metadata/,
    );
  }
});

test.run();
