/**
 * The transition window end to end: a release of fixture contract 1.1 (an
 * optional field `region` added to SessionStartEvent), built the way a real
 * release is, serves `--accept-versions 1.0,1.1` in a process of its own and
 * takes events of both versions over gRPC, each judged by its own version's
 * schema; they are stored, returned by GetSession and archived exactly as
 * they came. Once the window closes, stored 1.0 events stay as they were and
 * new ones are refused. And the flag's own rules.
 */
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { credentials, status } from "@grpc/grpc-js";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseServeConfig } from "../src/cli/serve-config.js";
import type { Bridge } from "../src/bridge/bridge.js";
import { CONTRACT_1_1 } from "./fixtures/contracts.js";
import { call, rejection } from "./support/collector.js";
import { validEnd, validStart } from "./support/fixtures.js";
import { releaseBuild } from "./support/release-build.js";
import { cliBin, tempDir } from "./support/repo.js";
import { startServeProcess, type ServeProcess } from "./support/serve-process.js";

type Json = Record<string, unknown>;

test("a 1.1 release with --accept-versions 1.0,1.1 takes both versions over gRPC and keeps each as it came", async () => {
  const root = releaseBuild(CONTRACT_1_1);
  const bin = path.join(root, "dist/src/cli/bin.js");
  const load = (module: string) => import(pathToFileURL(path.join(root, "dist", module)).href);
  const { bridges } = (await load("src/bridge/index.js")) as {
    bridges: Record<"SessionStartEvent" | "SessionEndEvent", Bridge<object, Json>>;
  };
  const { SessionServiceClient } = await load("gen/oneiric/session/v1/session_service.js");
  const dataDir = tempDir("transition-window-");

  const start10: Json = { ...validStart(), event_id: randomUUID() };
  const start11: Json = { ...validStart(), event_id: randomUUID(), event_version: "1.1", region: "eu-west-1" };
  let serve: ServeProcess | undefined = await startServeProcess(
    ["--data-dir", dataDir, "--accept-versions", "1.0,1.1"],
    [],
    "listening",
    bin,
  );
  try {
    const client = new SessionServiceClient(`127.0.0.1:${serve.port}`, credentials.createInsecure());
    const emit = (event: Json) =>
      call<object, { sessionId: string; status: string }>(client, "emitSessionStart", {
        event: bridges.SessionStartEvent.fromJson(event),
      });
    const a = await emit(start10);
    const b = await emit(start11);
    assert.equal([a.status, b.status], ["created", "created"]);

    // Each event is judged by its own version: 1.0 has no `region`, and 1.2 is no accepted version.
    // (The client's bridge refuses both too: the messages are relabelled after it, to reach the server.)
    const relabelled = (event: Json, version: string) => ({
      ...bridges.SessionStartEvent.fromJson({ ...event, event_id: randomUUID() }),
      eventVersion: version,
    });
    const emitMessage = (event: object) => call<object, unknown>(client, "emitSessionStart", { event });
    const stray = await rejection(emitMessage(relabelled(start11, "1.0")));
    assert.is(stray.code, status.INVALID_ARGUMENT);
    assert.match(stray.details, /\/region: is not a field of this contract .*\[unknown_property\]/);
    const newer = await rejection(emitMessage(relabelled(start11, "1.2")));
    assert.is(newer.code, status.INVALID_ARGUMENT);
    assert.match(newer.details, /Unsupported event version: 1\.2 \(expected one of '1\.0', '1\.1'\)/);

    const end10: Json = { ...validEnd(), event_version: "1.0", session_id: a.sessionId };
    const end11: Json = { ...validEnd(), event_version: "1.1", session_id: b.sessionId };
    for (const end of [end10, end11])
      await call(client, "emitSessionEnd", { event: bridges.SessionEndEvent.fromJson(end) });

    // GetSession returns them as stored: each its own version, 1.1's region kept.
    for (const [id, start, end] of [
      [a.sessionId, start10, end10],
      [b.sessionId, start11, end11],
    ] as const) {
      const got = await call<object, { session: { start: object; end: object } }>(client, "getSession", {
        sessionId: id,
      });
      assert.equal(bridges.SessionStartEvent.toJson(got.session.start), start);
      assert.equal(bridges.SessionEndEvent.toJson(got.session.end), end);
    }
    client.close();
    serve.child.kill("SIGTERM");
    assert.equal(await serve.exited, { code: 0, signal: null });

    // The archive holds them as they came, in log order.
    const exported = spawnSync(process.execPath, [bin, "archive", "export", dataDir], { encoding: "utf8" });
    assert.is(exported.status, 0, exported.stderr);
    assert.equal(
      exported.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line)),
      [start10, start11, end10, end11],
    );

    // A build that does not know 1.1 (this repository's, 1.0 only) refuses to archive 1.1 events, naming the version.
    const older = spawnSync(process.execPath, [cliBin, "archive", "export", dataDir], { encoding: "utf8" });
    assert.is.not(older.status, 0);
    assert.match(older.stderr, /Unsupported event version: 1\.1 \(expected '1\.0'\)/);

    // The window closed (default: the current version only): stored 1.0 events stand, new ones are refused.
    serve = await startServeProcess(["--data-dir", dataDir], [], "listening", bin);
    const after = new SessionServiceClient(`127.0.0.1:${serve.port}`, credentials.createInsecure());
    const kept = await call<object, { session: { start: object } }>(after, "getSession", { sessionId: a.sessionId });
    assert.equal(bridges.SessionStartEvent.toJson(kept.session.start), start10);
    const late = await rejection(
      call(after, "emitSessionStart", {
        event: bridges.SessionStartEvent.fromJson({ ...start10, event_id: randomUUID() }),
      }),
    );
    assert.is(late.code, status.INVALID_ARGUMENT);
    assert.match(late.details, /Unsupported event version: 1\.0 \(expected '1\.1'\)/);
    after.close();
  } finally {
    serve?.child.kill("SIGKILL");
  }
});

test("--accept-versions: the current version only by default; every mistake names the flag (or variable) and the rule", () => {
  const parse = (args: string[], env: NodeJS.ProcessEnv = {}) => parseServeConfig(args, env).acceptVersions;
  assert.equal(parse([]), ["1.0"]);
  assert.equal(parse(["--accept-versions", " 1.0 "]), ["1.0"]);
  assert.equal(parse([], { SESSION_EVENTS_ACCEPT_VERSIONS: "1.0" }), ["1.0"]);
  const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [
      ["--accept-versions", "1.0,1.1"],
      {},
      /^--accept-versions: 1\.1 is not a version of this build's contract \(known versions: 1\.0\)$/,
    ],
    [["--accept-versions", "1"], {}, /^--accept-versions: "1" is not a version MAJOR\.MINOR, e\.g\. 1\.0/],
    [["--accept-versions", "1.0,,1.0"], {}, /^--accept-versions: "" is not a version MAJOR\.MINOR/],
    [["--accept-versions", "1.0,1.0"], {}, /^--accept-versions: 1\.0 is listed twice$/],
    [[], { SESSION_EVENTS_ACCEPT_VERSIONS: "v1.0" }, /^SESSION_EVENTS_ACCEPT_VERSIONS: "v1\.0" is not a version/],
  ];
  for (const [args, env, message] of cases) {
    try {
      parse(args, env);
      assert.unreachable(`${args.join(" ")} was accepted`);
    } catch (e) {
      assert.is((e as Error).name, "UsageError");
      assert.match((e as Error).message, message);
    }
  }
});

test.run();
