/** The exported schemas equal the seed's, and the VRP schema says what the seed says. */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { getAllSchemas, getSchema } from "../src/session/registry.js";
import { KNOWN_VRP_EVENT_TYPES } from "../src/contract/vrp-vocabulary.js";
import { SEED_DIR, VRP_SEED, seedSchemas } from "./support/seed.js";
import { repoRoot } from "./support/repo.js";

const seed = seedSchemas();

test("the seed copy in docs/spec is the shared seed, unchanged (by the digests of shared/seeds in test/fixtures)", () => {
  const digests = readFileSync(path.join(repoRoot, "test/fixtures/shared-seeds.sha256"), "utf8").trim().split("\n");
  assert.is(digests.length, 2);
  for (const line of digests) {
    const [digest, name] = line.split(/\s+/) as [string, string];
    assert.is(
      createHash("sha256")
        .update(readFileSync(path.join(SEED_DIR, name)))
        .digest("hex"),
      digest,
      name,
    );
  }
});

test("the seed gives SessionStartEvent and SessionEndEvent in full", () => {
  assert.equal(Object.keys(seed).sort(), ["SessionEndEvent", "SessionStartEvent"]);
});

for (const title of ["SessionStartEvent", "SessionEndEvent"]) {
  test(`${title} equals the seed's schema, key for key and in order`, () => {
    const ours = getSchema(title);
    assert.equal(ours, seed[title]);
    // Same key order too, so the exported file reads like the seed.
    assert.is(JSON.stringify(ours), JSON.stringify(seed[title]));
  });
}

for (const def of ["UserInfo", "EnvironmentInfo"]) {
  test(`${def} equals the seed's $defs.${def}, with the version header`, () => {
    const ours = getSchema(def);
    const expected = (seed.SessionStartEvent!.$defs as Record<string, Record<string, unknown>>)[def]!;
    const { $schema, event_version, title, ...body } = ours;
    assert.equal(body, expected);
    assert.is($schema, "https://json-schema.org/draft/2020-12/schema");
    assert.is(event_version, "1.0");
    assert.is(title, def);
  });
}

test("getAllSchemas lists the four session models and the VRP envelope", () => {
  assert.equal(Object.keys(getAllSchemas()), [
    "SessionStartEvent",
    "SessionEndEvent",
    "UserInfo",
    "EnvironmentInfo",
    "VrpEvent",
  ]);
});

test("getSchema returns a copy: changing it does not change the contract", () => {
  const s = getSchema("SessionStartEvent") as { title: string };
  s.title = "changed";
  assert.is(getSchema("SessionStartEvent").title, "SessionStartEvent");
});

test("the VRP schema follows the seed's envelope table", () => {
  const text = readFileSync(VRP_SEED, "utf8");
  const rows = [...text.matchAll(/^(\w+)\s+\|\s+(\w+)\s+\|\s+(yes|no)\s+\|/gm)].map((m) => ({
    field: m[1]!,
    type: m[2]!,
    required: m[3] === "yes",
  }));
  assert.is(rows.length, 6);
  const schema = getSchema("VrpEvent") as { properties: Record<string, { type: string }>; required: string[] };
  assert.equal(
    Object.keys(schema.properties),
    rows.map((r) => r.field),
  );
  const jsonType: Record<string, string> = { int64: "integer", string: "string", object: "object" };
  for (const r of rows) {
    assert.is(schema.properties[r.field]!.type, jsonType[r.type], r.field);
    assert.is(schema.required.includes(r.field), r.required, `${r.field} required`);
  }
});

test("the VRP schema documents every core event type of the seed", () => {
  const text = readFileSync(VRP_SEED, "utf8");
  const section = text.slice(text.indexOf("# 2. Core Event Types"), text.indexOf("# 3. State Model"));
  const seedTypes = [...section.matchAll(/^([A-Z_]{4,})\s*$/gm)].map((m) => m[1]);
  assert.equal(seedTypes, KNOWN_VRP_EVENT_TYPES);
  const schema = getSchema("VrpEvent") as { properties: { event_type: { examples: string[]; description: string } } };
  assert.equal(schema.properties.event_type.examples, KNOWN_VRP_EVENT_TYPES);
  for (const t of seedTypes) assert.ok(schema.properties.event_type.description.includes(t!));
});

test.run();
