/**
 * Interop: Python's grpcio, with stubs generated from our proto files by
 * grpc_tools (messages by Debian's protoc 3.21, which knows proto3
 * `optional`; Debian's grpc_tools bundles an older protoc that does not, so it
 * reads buf's descriptor set instead of the .proto files), calls the collector.
 * Needs the Debian packages python3-grpcio, python3-grpc-tools,
 * python3-protobuf and protobuf-compiler, which .ci/run installs. Without
 * them the test is not registered locally, and fails under CI.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import path from "node:path";
import { test } from "uvu";
import { skipped } from "./support/skip.js";
import * as assert from "uvu/assert";
import { startTestServer } from "./support/collector.js";
import { bufBin, repoRoot, tempDir } from "./support/repo.js";

const PYTHON = "/usr/bin/python3"; // Debian's interpreter: the one the python3-* packages install for
const probe = spawnSync(PYTHON, ["-c", "import grpc, grpc_tools, google.protobuf"], { encoding: "utf8" });
const protoc = spawnSync("protoc", ["--version"], { encoding: "utf8" });
const available = probe.status === 0 && protoc.status === 0;

if (!available && process.env.CI !== "true") {
  skipped(
    "python-interop",
    "apt-get install python3-grpcio python3-grpc-tools python3-protobuf protobuf-compiler to run it",
  );
} else {
  test("a Python grpcio client with grpc_tools stubs emits, retries, ends and reads back a session", async () => {
    assert.ok(available, `Python gRPC or protoc is missing: ${probe.stderr}${protoc.error ?? ""}`);
    const out = tempDir("pystubs-");
    const image = path.join(out, "image.binpb");
    execFileSync(bufBin, ["build", "--as-file-descriptor-set", "-o", image], { cwd: repoRoot });
    const files = [
      "oneiric/session/v1/session_events.proto",
      "oneiric/session/v1/session_service.proto",
      "google/rpc/status.proto",
      "google/rpc/error_details.proto",
    ];
    execFileSync("protoc", [`--descriptor_set_in=${image}`, `--python_out=${out}`, ...files]);
    execFileSync(PYTHON, [
      "-c",
      "import sys; from grpc_tools import protoc; sys.exit(protoc.main(['protoc', '--descriptor_set_in=' + sys.argv[1], '--grpc_python_out=' + sys.argv[2], 'oneiric/session/v1/session_service.proto']))",
      image,
      out,
    ]);

    const server = await startTestServer();
    try {
      const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(PYTHON, [path.join(repoRoot, "test/interop/python_client.py"), server.target, out]);
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d));
        child.stderr.on("data", (d: Buffer) => (stderr += d));
        child.on("close", (status: number | null) => resolve({ status, stdout, stderr }));
      });
      assert.is(run.status, 0, run.stderr);
      const report = JSON.parse(run.stdout);
      assert.equal(report.statuses, ["created", "duplicate"]);
      assert.ok(report.same_id);
      assert.is(report.end_status, "ended");
      assert.is(report.status_enum, "SESSION_STATUS_ENDED");
      assert.match(report.python_version_stored, /^3\.\d+\.\d+/);
      assert.equal(report.metadata_roundtrip, { interop: "python", nested: { n: 1.5, list: [1, "two", null, true] } });
      assert.is(report.invalid.code, "INVALID_ARGUMENT");
      assert.equal(
        new Set(report.invalid.violations.map((v: { field: string; reason: string }) => `${v.field} ${v.reason}`)),
        new Set(["event.component_name PATTERN", "event.pid MINIMUM"]),
      );
      // What the Python client stored reads back as contract JSON here.
      const view = server.collector.getSession(report.session_id);
      assert.is(view.start.componentName, "python-interop");
      assert.is(view.status, "ended");
    } finally {
      await server.shutdown(1000);
    }
  });
}

test.run();
