/**
 * The contract suites (collector-e2e: the session cases; vrp-e2e: the VRP
 * cases) run again, unchanged, against 3 JetStream replicas on a 3-node R3
 * cluster: SE_TEST_ENGINE=replicas makes every "collector" of those suites
 * a replica set whose target lists all three, so calls spread round robin
 * over them (test/support/collector.ts). Cases about the file engine's own
 * data directory are skipped there (fileEngineOnly).
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { repoRoot } from "./support/repo.js";

test("the session and VRP contract cases pass with calls spread over 3 replicas", async () => {
  const uvu = path.join(repoRoot, "node_modules/.bin/uvu");
  const child = spawn(uvu, ["dist/test", "^(collector|vrp)-e2e\\.test\\.js$"], {
    cwd: repoRoot,
    env: { ...process.env, SE_TEST_ENGINE: "replicas" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr.on("data", (c: Buffer) => (output += c.toString()));
  // Ends by itself; should a leftover handle keep it alive after its summary, it is stopped (and said so).
  let lingered = false;
  const watch = setInterval(() => {
    if (!/Duration:\s+[\d.]+ms/.test(output)) return;
    clearInterval(watch);
    setTimeout(() => {
      lingered = child.exitCode === null;
      child.kill("SIGINT");
    }, 20_000).unref();
  }, 500);
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  clearInterval(watch);
  const passed = Number(/Passed:\s+(\d+)/.exec(output)?.[1] ?? 0);
  const report = `${failures(output)}\n--- the whole output ---\n${output}`;
  assert.not.ok(/FAIL/.test(output), `the suites failed on replicas:\n${report}`);
  assert.ok(code === 0 || lingered, `the suites failed on replicas (exit ${code}):\n${report}`);
  assert.ok(passed >= 20, `only ${passed} cases passed on replicas:\n${report}`);
});

/** Each failed case with the first lines of its error, ahead of the whole output (which a log may cut). */
function failures(output: string): string {
  const lines = output.split("\n");
  const out: string[] = [];
  lines.forEach((line, i) => {
    if (line.includes("FAIL")) out.push(...lines.slice(i, i + 6));
  });
  return out.length ? out.join("\n") : "(no case named as failed)";
}

test.run();
