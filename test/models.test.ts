/** The session model API: create(), jsonSchema(), validateJson(), validateJsonSafe(). */
import { mkdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { SessionEndEvent, SessionStartEvent, UserInfo, EnvironmentInfo } from "../src/session/models.js";
import { truncate } from "../src/session/system.js";
import { ValidationError } from "../src/contract/errors.js";
import { validStart } from "./support/fixtures.js";
import { tempDir } from "./support/repo.js";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("SessionStartEvent.create fills every field from this process", () => {
  const before = Date.now();
  const e = SessionStartEvent.create({ componentName: "mahavishnu", shellType: "MahavishnuShell" });
  assert.is(e.event_version, "1.0");
  assert.is(e.event_type, "session_start");
  assert.is(e.component_name, "mahavishnu");
  assert.is(e.shell_type, "MahavishnuShell");
  assert.match(e.event_id, UUID_V4);
  assert.is(e.event_id.length, 36);
  assert.match(e.timestamp, /Z$/);
  assert.ok(Date.parse(e.timestamp) >= before - 1 && Date.parse(e.timestamp) <= Date.now());
  assert.is(e.pid, process.pid);
  assert.is(e.hostname, os.hostname());
  assert.is(e.user.home, os.homedir());
  assert.is(e.environment.python_version, `node-${process.versions.node}`);
  assert.is(e.environment.cwd, process.cwd());
  assert.equal(e.metadata, {});
  assert.is(SessionStartEvent.validateJson(JSON.stringify(e)).event_id, e.event_id);
});

test("create() gives each event its own id", () => {
  const ids = new Set(
    Array.from({ length: 100 }, () => SessionStartEvent.create({ componentName: "c", shellType: "s" }).event_id),
  );
  assert.is(ids.size, 100);
});

test("create() keeps metadata and refuses what the contract refuses", () => {
  const e = SessionStartEvent.create({
    componentName: "c",
    shellType: "s",
    metadata: { test_mode: true, workspace: "/w" },
  });
  assert.equal(e.metadata, { test_mode: true, workspace: "/w" });
  assert.throws(
    () => SessionStartEvent.create({ componentName: "my component", shellType: "s" }),
    (err: unknown) => err instanceof ValidationError && /component_name/.test(err.message),
  );
});

test("create() truncates long values to the schema's limits, counting code points", () => {
  const cwd = process.cwd();
  const root = tempDir();
  const deep = path.join(root, "d".repeat(200), "e".repeat(200), "f".repeat(120));
  try {
    // Build the directory for real so process.cwd() returns it.
    mkdirSync(deep, { recursive: true });
    process.chdir(deep);
    const e = SessionStartEvent.create({ componentName: "c", shellType: "s" });
    assert.is(Array.from(e.environment.cwd).length, 500);
    assert.ok(deep.startsWith(e.environment.cwd));
  } finally {
    process.chdir(cwd);
    rmSync(root, { recursive: true, force: true });
  }
  assert.is(truncate("😀".repeat(101), 100), "😀".repeat(100));
  assert.is(truncate("short", 100), "short");
});

test("SessionEndEvent.create", () => {
  const e = SessionEndEvent.create({
    sessionId: "sess_abc123",
    metadata: { exit_reason: "user_exit", duration_seconds: 3600 },
  });
  assert.is(e.session_id, "sess_abc123");
  assert.is(e.event_type, "session_end");
  assert.is(e.event_version, "1.0");
  assert.equal(e.metadata, { exit_reason: "user_exit", duration_seconds: 3600 });
  assert.is(SessionEndEvent.validateJson(e), e);
});

test("jsonSchema() is the contract schema, as a copy", () => {
  const schema = SessionStartEvent.jsonSchema();
  assert.ok("$schema" in schema);
  assert.is(schema.event_version, "1.0");
  assert.is(schema.type, "object");
  schema.type = "array";
  assert.is(SessionStartEvent.jsonSchema().type, "object");
});

test("validateJson takes a string or an object", () => {
  assert.is(SessionStartEvent.validateJson(JSON.stringify(validStart())).component_name, "mahavishnu");
  assert.is(SessionStartEvent.validateJson(validStart()).component_name, "mahavishnu");
});

test("validateJsonSafe returns [event, null] or [null, error]", () => {
  const [ok, none] = SessionStartEvent.validateJsonSafe(validStart());
  assert.is(ok!.event_id, validStart().event_id);
  assert.is(none, null);
  const [nothing, error] = SessionStartEvent.validateJsonSafe('{"event_version": "2.0"}');
  assert.is(nothing, null);
  assert.instance(error, ValidationError);
  assert.match(error!.message, /Unsupported event version: 2\.0 \(expected '1\.0'\)/);
});

test("UserInfo and EnvironmentInfo validate alone and read the system", () => {
  assert.equal(UserInfo.validateJson({ username: "john", home: "/home/john" }), {
    username: "john",
    home: "/home/john",
  });
  assert.is(UserInfo.validateJsonSafe({ username: "john" })[1]!.issues[0]!.path, "/home");
  assert.is(EnvironmentInfo.fromSystem().platform, `${os.type()}-${os.release()}-${os.machine()}`);
  assert.is(UserInfo.fromSystem().home, os.homedir());
});

test.run();
