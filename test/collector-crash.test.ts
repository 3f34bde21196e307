/**
 * A collector in its own process, killed with SIGKILL during a stream of
 * calls, restarted on the same data directory: every event that was
 * acknowledged is still there.
 */
import { test } from "uvu";
import { until } from "./support/until.js";
import * as assert from "uvu/assert";
import { bridges } from "../src/bridge/index.js";
import { SessionStartEvent } from "../src/session/models.js";
import type { EmitSessionStartResponse, GetSessionResponse } from "../gen/oneiric/session/v1/session_service.js";
import { call, clientFor } from "./support/collector.js";
import { tempDir } from "./support/repo.js";
import { startServeProcess } from "./support/serve-process.js";

/** Start `session-events serve` on a free port; resolves with the process and its port. */
const serve = (dataDir: string) => startServeProcess(["--data-dir", dataDir]);

test("SIGKILL mid-stream: every acknowledged session survives the restart", async () => {
  const dataDir = tempDir("crash-");
  const first = await serve(dataDir);
  const client = clientFor(`127.0.0.1:${first.port}`);
  const acked: string[] = [];
  let killed = false;
  const worker = async () => {
    while (!killed) {
      const event = bridges.SessionStartEvent.fromJson(
        SessionStartEvent.create({ componentName: "crash", shellType: "Shell" }),
      );
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
  await first.exited; // (a listener added now could miss an exit that already happened)
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
  const { code } = await second.exited;
  assert.is(code, 0, second.log.join("\n"));
  assert.ok(
    second.log.some((l) => l.includes('"msg":"stopped"')),
    "graceful stop logged",
  );
});

test("SIGTERM with a live Subscribe stops at once (the stream is ended, not waited for); a second SIGTERM never hangs it", async () => {
  const dataDir = tempDir("second-signal-");
  const { child, port, log, exited } = await startServeProcess(["--data-dir", dataDir, "--shutdown-grace-ms", "60000"]);
  // A live subscription, and a grace period of a minute: shutdown must not wait for the stream.
  const { subscribeVrp, VrpProducer } = await import("../src/client/vrp.js");
  let received = 0;
  const reading = (async () => {
    try {
      for await (const _ of subscribeVrp({ target: `127.0.0.1:${port}`, reconnect: { maxAttempts: 1 } })) received++;
    } catch {
      // cut by the shutdown
    }
  })();
  // The subscription is open once it has delivered an event.
  const producer = new VrpProducer({ target: `127.0.0.1:${port}` });
  await producer.send({ ts_ms: 1, event_type: "SESSION_CREATED", session_id: "second-signal" });
  await producer.close();
  await until(() => received > 0, "the subscription delivered the event");
  const t0 = Date.now();
  child.kill("SIGTERM");
  await until(() => log.some((l) => l.includes('"msg":"shutting down"')), "the first SIGTERM started the drain");
  child.kill("SIGTERM");
  const ended = await exited;
  // A second signal that lands once the shutdown is over meets a process already exiting
  // (Node restores default handlers while it exits): a death by that signal then is no hang.
  const finishedFirst = log.some((l) => l.includes('"msg":"stopped"'));
  const clean = ended.code === 0 || (finishedFirst && ended.signal === "SIGTERM");
  assert.ok(clean, `${JSON.stringify(ended)}\n${log.slice(-5).join("\n")}`);
  assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
  await reading;
});

test.run();
