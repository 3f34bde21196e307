/**
 * Length-delimited files from another implementation: Python's protobuf
 * (Debian's python3-protobuf, messages by Debian's protoc from buf's
 * descriptor set) writes bare VrpEvents and a LogEntry with _VarintBytes
 * framing; archive export reads them. And back: archive import writes
 * delimited VrpEvents that Python reads. Needs the same Debian packages as
 * the Python gRPC interop test (.ci/run installs them); without them the
 * test is not registered locally, and fails under CI.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "uvu";
import { skipped } from "./support/skip.js";
import * as assert from "uvu/assert";
import { bufBin, cliBin, repoRoot, tempDir } from "./support/repo.js";

const PYTHON = "/usr/bin/python3";
const available =
  spawnSync(PYTHON, ["-c", "import google.protobuf"]).status === 0 && spawnSync("protoc", ["--version"]).status === 0;
const script = path.join(repoRoot, "test/interop/python_delimited.py");
const cli = (...args: string[]) => spawnSync(process.execPath, [cliBin, ...args], { encoding: "utf8" });

if (!available && process.env.CI !== "true") {
  skipped("archive-python", "apt-get install python3-protobuf protobuf-compiler to run it");
} else {
  test("delimited files written by Python's protobuf export to contract JSON, and ours import back into Python", () => {
    assert.ok(available, "python3-protobuf or protoc is missing");
    const dir = tempDir("pydelim-");
    const image = path.join(dir, "image.binpb");
    execFileSync(bufBin, ["build", "--as-file-descriptor-set", "-o", image], { cwd: repoRoot });
    const files = [
      "oneiric/session/v1/session_events.proto",
      "vrp/v1alpha1/vrp_event.proto",
      "sessionevents/log/v1/log_entry.proto",
    ];
    execFileSync("protoc", [`--descriptor_set_in=${image}`, `--python_out=${dir}`, ...files]);
    execFileSync(PYTHON, [script, "write", dir]);

    const vrp = cli("archive", "export", path.join(dir, "vrp.bin"), "--message", "VrpEvent");
    assert.is(vrp.status, 0, vrp.stderr);
    assert.equal(
      vrp.stdout
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l)),
      [0, 1, 2].map((i) => ({
        ts_ms: 1700000000000 + i,
        event_type: "PATH_SELECTED",
        session_id: "py-1",
        node_id: "node-py",
        details: { transport_id: `udp/${i}`, rtt_ms: 12.5 },
      })),
    );

    const log = cli("archive", "export", path.join(dir, "log.bin"), "--layout", "records");
    assert.is(log.status, 0, log.stderr);
    const record = JSON.parse(log.stdout);
    assert.equal(
      { ...record, event: undefined },
      {
        received_at: "2026-11-22T01:02:03.004Z",
        entry: "session_started",
        session_id: "sess_python",
        event: undefined,
      },
    );
    assert.equal(record.event.timestamp, "2026-11-22T01:02:03.123456Z");
    assert.equal(record.event.metadata, { writer: "python", nested: { n: 1 } });

    // Our delimited VrpEvents, read by Python.
    const lines = path.join(dir, "vrp.jsonl");
    writeFileSync(lines, vrp.stdout);
    const ours = path.join(dir, "ours.bin");
    const imported = cli("archive", "import", lines, "-o", ours, "--to", "delimited", "--output-message", "VrpEvent");
    assert.is(imported.status, 0, imported.stderr);
    const read = spawnSync(PYTHON, [script, "read", ours, dir], { encoding: "utf8" });
    assert.is(read.status, 0, read.stderr);
    assert.equal(
      read.stdout
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l)),
      vrp.stdout
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l)),
    );
  });
}

test.run();
