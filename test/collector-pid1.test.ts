/**
 * The collector as PID 1 of a pid namespace, as in a container: the kernel
 * ignores any signal PID 1 has no handler for, so `serve` must have its
 * handlers before it starts, not once it is listening. (Restarts as PID 1 on
 * a stale lock: test/log-lock.test.ts.)
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { tempDir } from "./support/repo.js";
import { PID1, pid1Of, startServeProcess } from "./support/serve-process.js";

test("PID 1: a SIGTERM that arrives while the collector is starting is not lost", async () => {
  const dataDir = tempDir("pid1-sigterm-");
  // "event log opened": recovery is done, the server is not listening yet.
  const serve = await startServeProcess(["--data-dir", dataDir], PID1, "event log opened");
  process.kill(pid1Of(serve), "SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<"no exit">((resolve) => (timer = setTimeout(() => resolve("no exit"), 30_000)));
  try {
    const exit = await Promise.race([serve.exited, deadline]);
    assert.equal(exit, { code: 0, signal: null }, `within 30 s of the SIGTERM:\n${serve.log.join("\n")}`);
  } finally {
    clearTimeout(timer);
    serve.child.kill("SIGKILL"); // unshare --kill-child: its PID 1 too (a no-op once exited)
  }
  assert.ok(
    serve.log.some((l) => l.includes('"msg":"stopping"') && l.includes('"why":"SIGTERM"')),
    serve.log.join("\n"),
  );
  assert.ok(
    serve.log.some((l) => l.includes('"msg":"stopped"')),
    "stopped in order",
  );
});

test.run();
