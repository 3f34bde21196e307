/**
 * Proto descriptors, JSON Schemas and the bridge mapping must describe the
 * same contract: same fields, names, types, required-ness and limits.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { MAPPINGS, sessionStartEventMapping } from "../src/bridge/mapping.js";
import { getSchema } from "../src/session/registry.js";
import { compareContract, type Exception, type Schema } from "./support/conformance.js";
import { protoMessage } from "./support/repo.js";

const EXCEPTIONS: Exception[] = [
  {
    message: "SessionEndEvent",
    field: "event_version",
    reason:
      "DESIGN: every session event message carries event_version; the seed's SessionEndEvent schema does not list it " +
      "(and we keep the seed's schema exact), so it is an optional proto field checked by the version policy.",
  },
];

for (const mapping of MAPPINGS) {
  test(`${mapping.name}: proto, schema and bridge agree`, () => {
    const problems = compareContract(mapping, getSchema(mapping.name), protoMessage(mapping.protoName), EXCEPTIONS);
    assert.equal(problems, []);
  });
}

test("every exception names a field that really is one-sided", () => {
  for (const e of EXCEPTIONS) {
    const schema = getSchema(e.message) as { properties: Record<string, unknown> };
    assert.not.ok(
      Object.hasOwn(schema.properties, e.field),
      `${e.message}.${e.field} is in the schema now: drop the exception`,
    );
  }
});

// The checker must be able to fail: each mutation below must be caught.
const mutations: [string, (s: Schema) => void, RegExp][] = [
  [
    "a renamed schema property",
    (s) => ((s.properties.host_name = s.properties.hostname), delete s.properties.hostname),
    /hostname: exists only in proto, bridge mapping/,
  ],
  ["a changed type", (s) => (s.properties.pid.type = "string"), /pid: schema type means string, proto field is int32/],
  [
    "a field made optional",
    (s) => (s.required = s.required.filter((r: string) => r !== "hostname")),
    /hostname: optional in schema but has no presence/,
  ],
  ["a changed limit", (s) => (s.$defs.UserInfo.properties.username.maxLength = 99), /limits/],
  ["a changed pattern", (s) => (s.properties.component_name.pattern = "^[a-z]+$"), /component_name: schema limits/],
  [
    "a limit beyond int32",
    (s) => (s.properties.pid.maximum = 2 ** 40),
    /pid: schema type means int64, proto field is int32/,
  ],
];
for (const [what, mutate, expected] of mutations) {
  test(`the conformance check catches ${what}`, () => {
    const schema = getSchema("SessionStartEvent") as Schema;
    mutate(schema);
    const problems = compareContract(
      sessionStartEventMapping,
      schema,
      protoMessage(sessionStartEventMapping.protoName),
    );
    assert.ok(
      problems.some((p) => expected.test(p)),
      `expected ${expected} in ${JSON.stringify(problems)}`,
    );
  });
}

test("the conformance check catches a mapping that drifts from the proto", () => {
  const drifted = {
    ...sessionStartEventMapping,
    fields: sessionStartEventMapping.fields.map((f) => (f.json === "pid" ? { ...f, proto: "processId" } : f)),
  };
  const problems = compareContract(drifted, getSchema("SessionStartEvent"), protoMessage(drifted.protoName));
  assert.ok(
    problems.some((p) => p.includes("pid: bridge uses property processId")),
    JSON.stringify(problems),
  );
});

test.run();
