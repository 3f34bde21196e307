/**
 * `contract check`: the fixture contracts are classified as the
 * specification says (1.1 adds an optional field: minor; 2.0 renames one:
 * major), a rename labelled 1.1 is refused, the protobuf half is exactly what
 * `buf breaking` finds, and the command's exits and output are as documented.
 */
import { spawnSync } from "node:child_process";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import YAML from "yaml";
import { checkContract } from "../src/contract/evolution/check.js";
import { getAllSchemas } from "../src/session/registry.js";
import {
  CONTRACT_1_1,
  CONTRACT_2_0,
  EVENTS_PROTO,
  protoTreeWith,
  relabelled,
  renamedHostname,
  replaceOnce,
  schemasFile,
  type SchemaSet,
} from "./fixtures/contracts.js";
import { bufBin, cliBin, repoRoot, tempDir } from "./support/repo.js";

const IMAGE = path.join(repoRoot, "proto/baseline.binpb");
const BASELINE_SCHEMAS = JSON.parse(
  readFileSync(path.join(repoRoot, "proto/baseline.schemas.json"), "utf8"),
) as SchemaSet;

const check = (schemas: SchemaSet, protoDir: string) =>
  checkContract({ baseline: { image: IMAGE, schemas: BASELINE_SCHEMAS }, working: { schemas, protoDir } });
const cli = (...args: string[]) => spawnSync(process.execPath, [cliBin, ...args], { encoding: "utf8", cwd: repoRoot });
const summary = (changes: readonly { source: string; rule: string; keyword?: string; where: string }[]) =>
  changes.map((c) => `${c.source} ${c.rule}${c.keyword ? ` ${c.keyword}` : ""} ${c.where.replace(/:\d+$/, "")}`);

test("the committed baseline is the released contract: its schemas are 1.0's, and the working contract matches it", () => {
  assert.equal(BASELINE_SCHEMAS, getAllSchemas("1.0"));
  const report = check(getAllSchemas() as SchemaSet, path.join(repoRoot, "proto"));
  assert.equal(report.changes, []);
  assert.equal([report.needed, report.expectedVersion, report.matches], ["none", "1.0", true]);
});

test("fixture 1.1 (an optional field added) needs a minor bump, and is labelled so", () => {
  const report = check(CONTRACT_1_1.schemas, protoTreeWith(CONTRACT_1_1.protoEdit));
  assert.equal(summary(report.changes), ["json-schema property_added_optional SessionStartEvent#/properties/region"]);
  assert.equal(
    [report.baselineVersion, report.needed, report.expectedVersion, report.workingVersion, report.matches],
    ["1.0", "minor", "1.1", "1.1", true],
  );
});

test("fixture 2.0 (a field renamed) needs a major bump, from both halves, and is labelled so", () => {
  const report = check(CONTRACT_2_0.schemas, protoTreeWith(CONTRACT_2_0.protoEdit));
  assert.equal(summary(report.changes), [
    "json-schema property_renamed SessionStartEvent#/properties/hostname",
    `protobuf protobuf_breaking FIELD_SAME_JSON_NAME ${EVENTS_PROTO}`,
    `protobuf protobuf_breaking FIELD_SAME_NAME ${EVENTS_PROTO}`,
  ]);
  assert.equal([report.needed, report.expectedVersion, report.matches], ["major", "2.0", true]);
});

test("the rename labelled 1.1 is refused: it needs 2.0", () => {
  const report = check(renamedHostname("1.1"), protoTreeWith(CONTRACT_2_0.protoEdit));
  assert.equal(
    [report.needed, report.expectedVersion, report.workingVersion, report.matches],
    ["major", "2.0", "1.1", false],
  );
});

test("a protobuf-only break counts: the rename in proto/ alone, schemas unchanged, needs 2.0", () => {
  const report = check(getAllSchemas() as SchemaSet, protoTreeWith(CONTRACT_2_0.protoEdit));
  assert.equal([report.needed, report.matches], ["major", false]);
  assert.ok(report.changes.every((c) => c.source === "protobuf"));
});

test("a bump without a change is refused too: 1.1 with nothing changed should stay 1.0", () => {
  const report = check(relabelled("1.1"), path.join(repoRoot, "proto"));
  assert.equal([report.needed, report.expectedVersion, report.matches], ["none", "1.0", false]);
});

/** `buf breaking` run directly, as scripts/breaking.sh runs it, on a copy of the repository's contract with `edit` applied. */
function bufDirectly(edit: (source: string) => string): string[] {
  const dir = tempDir("contract-buf-");
  cpSync(path.join(repoRoot, "proto"), path.join(dir, "proto"), { recursive: true });
  cpSync(path.join(repoRoot, "buf.yaml"), path.join(dir, "buf.yaml"));
  const file = path.join(dir, "proto", EVENTS_PROTO);
  writeFileSync(file, edit(readFileSync(file, "utf8")));
  const r = spawnSync(bufBin, ["breaking", "--against", IMAGE, "--error-format", "json"], {
    cwd: dir,
    encoding: "utf8",
  });
  assert.ok(r.status === 0 || r.status === 100, r.stderr);
  return r.stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { path: string; start_line: number; type: string; message: string })
    .map((f) => `${f.type} ${f.path.replace(/^proto\//, "")}:${f.start_line} ${f.message}`)
    .sort();
}

const PROTO_EDITS: [string, (s: string) => string][] = [
  ["a field renamed", CONTRACT_2_0.protoEdit],
  ["a field number changed", replaceOnce("string hostname = 9;", "string hostname = 19;")],
  ["a field type changed", replaceOnce("int32 pid = 7;", "string pid = 7;")],
  ["a field removed", replaceOnce("  string shell_type = 5;\n", "")],
  ["an optional field added", CONTRACT_1_1.protoEdit],
];

for (const [what, edit] of PROTO_EDITS) {
  test(`protobuf half agrees with buf breaking: ${what}`, () => {
    const ours = check(getAllSchemas() as SchemaSet, protoTreeWith(edit))
      .changes.filter((c) => c.source === "protobuf")
      .map((c) => `${c.keyword} ${c.where} ${c.message}`)
      .sort();
    assert.equal(ours, bufDirectly(edit));
  });
}

test("the rules buf runs with are buf.yaml's", () => {
  const config = YAML.parse(readFileSync(path.join(repoRoot, "buf.yaml"), "utf8")) as { breaking: { use: string[] } };
  assert.equal(config.breaking.use, ["WIRE_JSON"]); // a field rename must be caught (DESIGN.md, trap 3)
});

test("CLI: against the committed baseline: exit 0, the verdict in words", () => {
  const r = cli("contract", "check", "--against", "proto/baseline.binpb");
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /working 1\.0 against baseline 1\.0/);
  assert.match(r.stdout, /verdict: no bump needed/);
  assert.match(r.stdout, /working event_version 1\.0: matches/);
});

test("CLI --json: fixture 1.1 is a minor change (exit 0), the rename labelled 1.1 a mismatch (exit 1)", () => {
  const ok = cli(
    "contract",
    "check",
    "--against",
    "proto/baseline.binpb",
    "--json",
    "--schemas",
    schemasFile(CONTRACT_1_1.schemas),
    "--proto",
    protoTreeWith(CONTRACT_1_1.protoEdit),
  );
  assert.is(ok.status, 0, ok.stderr);
  const report = JSON.parse(ok.stdout) as Record<string, unknown>;
  assert.equal(
    [report.needed, report.expected_version, report.matches, (report.working as { version: string }).version],
    ["minor", "1.1", true, "1.1"],
  );
  assert.equal(
    (report.changes as { rule: string; bump: string }[]).map((c) => [c.rule, c.bump]),
    [["property_added_optional", "minor"]],
  );

  const bad = cli(
    "contract",
    "check",
    "--against",
    "proto/baseline.binpb",
    "--schemas",
    schemasFile(renamedHostname("1.1")),
    "--proto",
    protoTreeWith(CONTRACT_2_0.protoEdit),
  );
  assert.is(bad.status, 1, bad.stderr);
  assert.match(
    bad.stdout,
    /major +property_renamed +SessionStartEvent#\/properties\/hostname: property "hostname" was renamed to "host_name"/,
  );
  assert.match(bad.stdout, /major +protobuf_breaking \(FIELD_SAME_NAME\)/);
  assert.match(bad.stdout, /verdict: a major bump is needed: event_version 1\.0 -> 2\.0/);
  assert.match(bad.stdout, /working event_version 1\.1: does NOT match; it must be 2\.0/);
});

test("CLI: usage mistakes exit 2 naming the flag; an unreadable contract exits 1 naming the file", () => {
  const cases: [string[], RegExp][] = [
    [["contract", "check"], /--against: the baseline image is required/],
    [["contract", "check", "--against", "nowhere.binpb"], /--against: no baseline image at nowhere\.binpb/],
    [
      ["contract", "check", "--against", "buf.yaml"],
      /--against: no baseline JSON Schemas beside the image \(expected buf\.yaml\.schemas\.json/,
    ],
    [
      ["contract", "check", "--against", "proto/baseline.binpb", "--schemas", "none.json"],
      /--schemas: no file none\.json/,
    ],
    [
      ["contract", "check", "--against", "proto/baseline.binpb", "--proto", "no-such-dir"],
      /--proto: no directory no-such-dir/,
    ],
    [["contract", "check", "--against", "proto/baseline.binpb", "--colour"], /--colour: unknown flag/],
  ];
  for (const [args, message] of cases) {
    const r = cli(...args);
    assert.is(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  const mixed = relabelled("1.1");
  mixed.UserInfo!.event_version = "1.0";
  const r = cli("contract", "check", "--against", "proto/baseline.binpb", "--schemas", schemasFile(mixed));
  assert.is(r.status, 1);
  assert.match(r.stderr, /working contract: its schemas disagree on event_version \("1\.1", "1\.0"\)/);
});

test.run();
