/**
 * Independent proof that exported lines are "the exact JSON the exported
 * schemas describe": Python's jsonschema (Debian's python3-jsonschema, a
 * separate 2020-12 implementation) checks every line of an export of
 * generated events against the schema `schemas export` writes for its type.
 * (Debian has no RFC 3339 checker for it, so "date-time" is ours alone;
 * "uuid" and every structural rule are checked.) .ci/run installs the
 * package; without it the test is not registered locally, and fails under CI.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import fc from "fast-check";
import { test } from "uvu";
import { skipped } from "./support/skip.js";
import * as assert from "uvu/assert";
import * as arb from "./support/arbitraries.js";
import { logEntryBytes, writeSegmentFile, type LoggedEvent } from "./support/archive-log.js";
import { cliBin, tempDir } from "./support/repo.js";

const PYTHON = "/usr/bin/python3";
const available = spawnSync(PYTHON, ["-c", "import jsonschema"]).status === 0;

const CHECK = `
import json, sys
from jsonschema import Draft202012Validator
schemas = json.load(open(sys.argv[1]))
checked = 0
for name, file in zip(sys.argv[2::2], sys.argv[3::2]):
    validator = Draft202012Validator(schemas[name], format_checker=Draft202012Validator.FORMAT_CHECKER)
    for number, line in enumerate(open(file, encoding="utf-8"), 1):
        errors = list(validator.iter_errors(json.loads(line)))
        if errors:
            sys.exit(f"{file}:{number}: {errors[0].message}")
        checked += 1
print(checked)
`;

if (!available && process.env.CI !== "true") {
  skipped("archive-jsonschema", "apt-get install python3-jsonschema to run it");
} else {
  test("every exported line validates against its exported schema in Python's jsonschema", () => {
    assert.ok(available, "python3-jsonschema is missing");
    const dir = tempDir();
    const events: LoggedEvent[] = [
      ...fc
        .sample(arb.sessionStartJson, { numRuns: 150, seed: 7 })
        .map((json, i): LoggedEvent => ({ kind: "session_started", json, sessionId: `sess_${i}` })),
      ...fc
        .sample(arb.sessionEndJson, { numRuns: 150, seed: 8 })
        .map((json): LoggedEvent => ({ kind: "session_ended", json })),
      ...fc.sample(arb.vrpJson, { numRuns: 150, seed: 9 }).map((json): LoggedEvent => ({ kind: "vrp_received", json })),
    ];
    const log = path.join(dir, "log.seg");
    writeSegmentFile(log, events.map(logEntryBytes));
    const schemas = path.join(dir, "schemas.json");
    assert.is(spawnSync(process.execPath, [cliBin, "schemas", "export", schemas]).status, 0);
    const files: string[] = [];
    for (const type of ["SessionStartEvent", "SessionEndEvent", "VrpEvent"]) {
      const out = path.join(dir, `${type}.jsonl`);
      const r = spawnSync(process.execPath, [cliBin, "archive", "export", log, "--type", type, "-o", out], {
        encoding: "utf8",
      });
      assert.is(r.status, 0, r.stderr);
      files.push(type, out);
    }
    const check = spawnSync(PYTHON, ["-c", CHECK, schemas, ...files], { encoding: "utf8" });
    assert.is(check.status, 0, check.stderr);
    assert.is(check.stdout.trim(), String(events.length));
  });
}

test.run();
