/**
 * The specification's rules of schema evolution, one schema pair per rule:
 * each change to the released SessionStartEvent schema is classified as the
 * rule says, with the bump it needs ("Schema Evolution": additive changes are
 * minor, breaking changes major).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { diffSchemaSets } from "../src/contract/evolution/schema-diff.js";
import { neededBump, type Bump, type ChangeRule } from "../src/contract/evolution/rules.js";
import { getSchema } from "../src/session/registry.js";

// biome-ignore lint/suspicious/noExplicitAny: a JSON Schema edited in place, any keyword at any depth
type Schema = Record<string, any>;
type Edit = (s: Schema) => void;

const released = () => getSchema("SessionStartEvent", "1.0") as Schema;
const props = (s: Schema) => s.properties as Schema;
const userInfo = (s: Schema) => s.$defs.UserInfo as Schema;

interface Row {
  /** The rule of the specification (or of the issue's list) the row stands for. */
  readonly rule: string;
  readonly before?: Edit;
  readonly after: Edit;
  readonly expect: readonly [ChangeRule, string?][];
  readonly bump: Bump;
}

const ROWS: readonly Row[] = [
  // Additive changes (minor)
  {
    rule: "add a new optional field",
    after: (s) => (props(s).region = { type: "string" }),
    expect: [["property_added_optional"]],
    bump: "minor",
  },
  {
    rule: "extend metadata schemas",
    after: (s) => (props(s).metadata.properties = { ticket: { type: "string" } }),
    expect: [["property_added_optional"]],
    bump: "minor",
  },
  {
    rule: "a rule that keeps valid data valid: a length loosened",
    after: (s) => (userInfo(s).properties.username.maxLength = 200),
    expect: [["constraint_loosened", "maxLength"]],
    bump: "minor",
  },
  {
    rule: "a rule that keeps valid data valid: a range loosened",
    after: (s) => (props(s).pid.maximum = 8388608),
    expect: [["constraint_loosened", "maximum"]],
    bump: "minor",
  },
  {
    rule: "a rule that keeps valid data valid: a minimum lowered",
    after: (s) => (props(s).pid.minimum = 0),
    expect: [["constraint_loosened", "minimum"]],
    bump: "minor",
  },
  {
    rule: "a rule that keeps valid data valid: an enum extended",
    before: (s) => (props(s).shell_type.enum = ["A", "B"]),
    after: (s) => (props(s).shell_type.enum = ["A", "B", "C"]),
    expect: [["constraint_loosened", "enum"]],
    bump: "minor",
  },
  {
    rule: "a rule that keeps valid data valid: a const dropped",
    after: (s) => delete props(s).event_type.const,
    expect: [["constraint_loosened", "const"]],
    bump: "minor",
  },
  {
    rule: "a rule that keeps valid data valid: a pattern dropped",
    after: (s) => delete props(s).component_name.pattern,
    expect: [["constraint_loosened", "pattern"]],
    bump: "minor",
  },
  {
    rule: "a rule that keeps valid data valid: a format dropped",
    after: (s) => delete props(s).event_id.format,
    expect: [["constraint_loosened", "format"]],
    bump: "minor",
  },
  {
    rule: "a rule that keeps valid data valid: an object opened",
    after: (s) => (userInfo(s).additionalProperties = true),
    expect: [["additional_properties_loosened", "additionalProperties"]],
    bump: "minor",
  },
  // Breaking changes (major)
  { rule: "remove a field", after: (s) => delete props(s).shell_type, expect: [["property_removed"]], bump: "major" },
  {
    rule: "rename a field",
    after: (s) => ((props(s).host_name = props(s).hostname), delete props(s).hostname),
    expect: [["property_renamed"]],
    bump: "major",
  },
  {
    rule: "change a field type",
    after: (s) => (props(s).pid = { type: "string" }),
    expect: [["type_changed"]],
    bump: "major",
  },
  {
    rule: "make a required field optional",
    after: (s) => (s.required = s.required.filter((k: string) => k !== "hostname")),
    expect: [["required_to_optional"]],
    bump: "major",
  },
  {
    rule: "add a required field",
    after: (s) => ((props(s).region = { type: "string" }), s.required.push("region")),
    expect: [["property_added_required"]],
    bump: "major",
  },
  {
    rule: "make an optional field required (tightened)",
    after: (s) => s.required.push("event_type"),
    expect: [["optional_to_required"]],
    bump: "major",
  },
  {
    rule: "tighten: an enum added",
    after: (s) => (props(s).shell_type.enum = ["MahavishnuShell"]),
    expect: [["constraint_tightened", "enum"]],
    bump: "major",
  },
  {
    rule: "tighten: an enum narrowed",
    before: (s) => (props(s).shell_type.enum = ["A", "B"]),
    after: (s) => (props(s).shell_type.enum = ["A"]),
    expect: [["constraint_tightened", "enum"]],
    bump: "major",
  },
  {
    rule: "tighten: an enum changed (neither narrower nor wider)",
    before: (s) => (props(s).shell_type.enum = ["A", "B"]),
    after: (s) => (props(s).shell_type.enum = ["A", "C"]),
    expect: [["constraint_changed", "enum"]],
    bump: "major",
  },
  {
    rule: "tighten: a const added",
    after: (s) => (props(s).shell_type.const = "MahavishnuShell"),
    expect: [["constraint_tightened", "const"]],
    bump: "major",
  },
  {
    rule: "tighten: a const changed",
    after: (s) => (props(s).event_type.const = "session_begin"),
    expect: [["constraint_changed", "const"]],
    bump: "major",
  },
  {
    rule: "tighten: a pattern added",
    after: (s) => (props(s).hostname.pattern = "^[a-z0-9.-]+$"),
    expect: [["constraint_tightened", "pattern"]],
    bump: "major",
  },
  {
    rule: "tighten: a pattern changed",
    after: (s) => (props(s).component_name.pattern = "^[a-z0-9_-]+$"),
    expect: [["constraint_changed", "pattern"]],
    bump: "major",
  },
  {
    rule: "tighten: a format added",
    after: (s) => (props(s).hostname.format = "hostname"),
    expect: [["constraint_tightened", "format"]],
    bump: "major",
  },
  {
    rule: "tighten: a length shortened",
    after: (s) => (userInfo(s).properties.home.maxLength = 255),
    expect: [["constraint_tightened", "maxLength"]],
    bump: "major",
  },
  {
    rule: "tighten: a minimum length added",
    after: (s) => (props(s).hostname.minLength = 1),
    expect: [["constraint_tightened", "minLength"]],
    bump: "major",
  },
  {
    rule: "tighten: a range narrowed",
    after: (s) => (props(s).pid.maximum = 65535),
    expect: [["constraint_tightened", "maximum"]],
    bump: "major",
  },
  {
    rule: "tighten: a minimum raised",
    after: (s) => (props(s).pid.minimum = 2),
    expect: [["constraint_tightened", "minimum"]],
    bump: "major",
  },
  {
    rule: "tighten: an object closed (additionalProperties)",
    after: (s) => (props(s).metadata.additionalProperties = false),
    expect: [["additional_properties_tightened", "additionalProperties"]],
    bump: "major",
  },
  // Neither
  {
    rule: "an annotation changed",
    after: (s) => (props(s).hostname.description = "The host's name"),
    expect: [["annotation_changed", "description"]],
    bump: "none",
  },
  { rule: "nothing changed", after: () => {}, expect: [], bump: "none" },
];

for (const row of ROWS) {
  test(`${row.rule}: ${row.expect.map(([r, k]) => (k ? `${r} (${k})` : r)).join(", ") || "no change"} -> ${row.bump}`, () => {
    const before = released();
    row.before?.(before);
    const after = structuredClone(before);
    row.after(after);
    const changes = diffSchemaSets({ SessionStartEvent: before }, { SessionStartEvent: after });
    assert.equal(
      changes.map((c) => [c.rule, c.keyword]),
      row.expect.map(([rule, keyword]) => [rule, keyword]),
      JSON.stringify(changes, null, 1),
    );
    assert.is(neededBump(changes), row.bump);
  });
}

test("a renamed field names both names; a removed one is not mistaken for a rename of an unlike field", () => {
  const before = released();
  const renamed = structuredClone(before);
  props(renamed).host_name = props(renamed).hostname;
  delete props(renamed).hostname;
  const [rename] = diffSchemaSets({ SessionStartEvent: before }, { SessionStartEvent: renamed });
  assert.is(rename!.where, "SessionStartEvent#/properties/hostname");
  assert.match(rename!.message, /"hostname" was renamed to "host_name"/);

  const swapped = structuredClone(before);
  delete props(swapped).hostname;
  props(swapped).host_id = { type: "integer" };
  assert.equal(
    diffSchemaSets({ SessionStartEvent: before }, { SessionStartEvent: swapped }).map((c) => c.rule),
    ["property_removed", "property_added_optional"],
  );
});

test("a contract type added is minor, removed is major", () => {
  const s = released();
  assert.equal(
    diffSchemaSets({ SessionStartEvent: s }, { SessionStartEvent: s, SessionPauseEvent: {} }).map((c) => [
      c.rule,
      c.bump,
    ]),
    [["schema_added", "minor"]],
  );
  assert.equal(
    diffSchemaSets({ SessionStartEvent: s, UserInfo: {} }, { SessionStartEvent: s }).map((c) => [c.rule, c.bump]),
    [["schema_removed", "major"]],
  );
});

test.run();
