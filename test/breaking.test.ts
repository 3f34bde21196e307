/**
 * `buf breaking` (WIRE_JSON, against the committed baseline) refuses a renamed
 * field, a changed field number and a changed type, and accepts a new optional
 * field. Each case runs the real buf on a changed copy of proto/.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bufBin, repoRoot, tempDir } from "./support/repo.js";

const EVENTS = "oneiric/session/v1/session_events.proto";
const BASELINE = path.join(repoRoot, "proto/baseline.binpb");

/** A copy of the contract with one edit applied; returns buf breaking's result. */
function breakingAfter(edit: (source: string) => string) {
  const dir = tempDir("session-events-breaking-");
  cpSync(path.join(repoRoot, "proto"), path.join(dir, "proto"), { recursive: true });
  cpSync(path.join(repoRoot, "buf.yaml"), path.join(dir, "buf.yaml"));
  const file = path.join(dir, "proto", EVENTS);
  const before = readFileSync(file, "utf8");
  const after = edit(before);
  assert.is.not(after, before, "the edit changed nothing");
  writeFileSync(file, after);
  return spawnSync(bufBin, ["breaking", "--against", BASELINE], { cwd: dir, encoding: "utf8" });
}

test("the contract as committed passes against its baseline", () => {
  execFileSync(bufBin, ["breaking", "--against", BASELINE], { cwd: repoRoot });
});

test("a renamed field is refused (it breaks JSON even though the wire is the same)", () => {
  const r = breakingAfter((s) => s.replace("string hostname = 9;", "string host_name = 9;"));
  assert.is.not(r.status, 0);
  assert.match(r.stdout + r.stderr, /hostname/);
});

test("a changed field number is refused", () => {
  const r = breakingAfter((s) => s.replace("string hostname = 9;", "string hostname = 19;"));
  assert.is.not(r.status, 0);
  assert.match(r.stdout + r.stderr, /hostname|9/);
});

test("a changed field type is refused", () => {
  const r = breakingAfter((s) => s.replace("int32 pid = 7;", "string pid = 7;"));
  assert.is.not(r.status, 0);
  assert.match(r.stdout + r.stderr, /pid|type/);
});

test("a new optional field is accepted", () => {
  const r = breakingAfter((s) =>
    s.replace(
      "  string hostname = 9;",
      "  string hostname = 9;\n  // Where the shell runs, when known.\n  optional string region = 12;",
    ),
  );
  assert.is(r.status, 0, r.stdout + r.stderr);
});

test.run();
