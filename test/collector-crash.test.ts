/**
 * A collector in its own process, killed with SIGKILL during a stream of
 * calls, restarted on the same data directory: every event that was
 * acknowledged is still there.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bridges } from "../src/bridge/index.js";
import { SessionStartEvent } from "../src/session/models.js";
import type { EmitSessionStartResponse, GetSessionResponse } from "../gen/oneiric/session/v1/session_service.js";
import { call, clientFor } from "./support/collector.js";
import { cliBin, tempDir } from "./support/repo.js";

/** Start `session-events serve` on a free port; resolves with the process and its port. */
function serve(dataDir: string): Promise<{ child: ChildProcess; port: number; log: string[] }> {
  const child = spawn(process.execPath, [cliBin, "serve", "--address", "127.0.0.1:0", "--data-dir", dataDir], { stdio: ["ignore", "ignore", "pipe"] });
  const log: string[] = [];
  return new Promise((resolve, reject) => {
    let partial = "";
    child.stderr!.on("data", (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split("\n");
      partial = lines.pop()!;
      for (const line of lines) {
        log.push(line);
        const entry = JSON.parse(line) as { msg: string; port?: number };
        if (entry.msg === "listening") resolve({ child, port: entry.port!, log });
      }
    });
    child.on("exit", (code) => reject(new Error(`serve exited early (${code}): ${log.join("\n")}`)));
  });
}

test("SIGKILL mid-stream: every acknowledged session survives the restart", async () => {
  const dataDir = tempDir("crash-");
  const first = await serve(dataDir);
  const client = clientFor(`127.0.0.1:${first.port}`);
  const acked: string[] = [];
  let killed = false;
  const worker = async () => {
    while (!killed) {
      const event = bridges.SessionStartEvent.fromJson(SessionStartEvent.create({ componentName: "crash", shellType: "Shell" }));
      try {
        const r = await call<unknown, EmitSessionStartResponse>(client, "emitSessionStart", { event });
        acked.push(r.sessionId);
        if (acked.length >= 400 && !killed) {
          killed = true;
          first.child.kill("SIGKILL");
        }
      } catch {
        return; // the server is gone
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  await new Promise((r) => first.child.once("exit", r));
  client.close();
  assert.ok(acked.length >= 400, `${acked.length} acknowledged`);

  const second = await serve(dataDir);
  const again = clientFor(`127.0.0.1:${second.port}`);
  for (const sessionId of acked) {
    const got = await call<unknown, GetSessionResponse>(again, "getSession", { sessionId });
    assert.is(got.session!.sessionId, sessionId);
  }
  again.close();
  second.child.kill("SIGTERM");
  const code = await new Promise((r) => second.child.once("exit", r));
  assert.is(code, 0, second.log.join("\n"));
  assert.ok(second.log.some((l) => l.includes('"msg":"stopped"')), "graceful stop logged");
});

test("a second SIGTERM while draining stops at once", async () => {
  const dataDir = tempDir("second-signal-");
  const child = spawn(process.execPath, [cliBin, "serve", "--address", "127.0.0.1:0", "--data-dir", dataDir, "--shutdown-grace-ms", "60000"], { stdio: ["ignore", "ignore", "pipe"] });
  const port = await new Promise<number>((resolve) => {
    child.stderr!.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) if (line.includes('"listening"')) resolve((JSON.parse(line) as { port: number }).port);
    });
  });
  // An open subscription keeps tryShutdown waiting for the whole grace period.
  const { subscribeVrp } = await import("../src/client/vrp.js");
  const reading = (async () => {
    try {
      for await (const _ of subscribeVrp({ target: `127.0.0.1:${port}`, reconnect: { maxAttempts: 0 } })) void _;
    } catch {
      // cut by the shutdown
    }
  })();
  await new Promise((r) => setTimeout(r, 300));
  const t0 = Date.now();
  child.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 300));
  child.kill("SIGTERM");
  const code = await new Promise((r) => child.once("exit", r));
  assert.is(code, 0);
  assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
  await reading;
});

test.run();
