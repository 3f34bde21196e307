/** The client commands of the CLI, run as real processes against a real collector. */
import { spawn } from "node:child_process";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startTestServer } from "./support/collector.js";
import { cliBin } from "./support/repo.js";

const server = await startTestServer({ token: "cli-test-token" });

/** Run the CLI (asynchronously: the collector runs in this process). */
function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [cliBin, ...args], {
    env: { ...process.env, SESSION_EVENTS_TARGET: server.target, SESSION_EVENTS_TOKEN: "cli-test-token", ...env },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d));
  child.stderr.on("data", (d: Buffer) => (stderr += d));
  return new Promise((resolve) => child.on("close", (status) => resolve({ status, stdout, stderr })));
}

test("emit start, emit end, sessions get and sessions list", async () => {
  const started = await cli([
    "emit",
    "start",
    "--component",
    "cli-demo",
    "--shell-type",
    "DemoShell",
    "--metadata",
    '{"workspace":"/w"}',
  ]);
  assert.is(started.status, 0, started.stderr);
  const sessionId = started.stdout.trim();
  assert.match(sessionId, /^sess_[0-9a-f]{32}$/);
  const ended = await cli(["emit", "end", sessionId, "--metadata", '{"exit_reason":"user_exit"}']);
  assert.is(ended.status, 0, ended.stderr);
  const got = await cli(["sessions", "get", sessionId]);
  assert.is(got.status, 0, got.stderr);
  const session = JSON.parse(got.stdout);
  assert.is(session.status, "ended");
  assert.is(session.start.shell_type, "DemoShell");
  assert.equal(session.start.metadata, { workspace: "/w" });
  assert.equal(session.end.metadata, { exit_reason: "user_exit" });
  const listed = await cli(["sessions", "list", "--component", "cli-demo", "--status", "ended"]);
  assert.is(listed.status, 0, listed.stderr);
  assert.equal(
    JSON.parse(listed.stdout).sessions.map((s: { session_id: string }) => s.session_id),
    [sessionId],
  );
});

test("the collector's refusals exit 1 and name the problem", async () => {
  let r = await cli(["sessions", "get", "sess_unknown"]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /NOT_FOUND: session_id: no session "sess_unknown"/);
  r = await cli(["emit", "start", "--component", "x", "--shell-type", "s"], { SESSION_EVENTS_TOKEN: "wrong-token" });
  assert.is(r.status, 1);
  assert.match(r.stderr, /UNAUTHENTICATED/);
  r = await cli(["emit", "start", "--component", "bad name", "--shell-type", "s"]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /\/component_name: must match pattern/);
});

test("bad flags are usage errors (exit 2) naming the flag", async () => {
  const cases: [string[], RegExp][] = [
    [["emit", "start", "--shell-type", "s"], /--component: is required/],
    [
      ["emit", "start", "--component", "c", "--shell-type", "s", "--metadata", "[1]"],
      /--metadata: must be a JSON object/,
    ],
    [["emit", "end"], /expected 1 argument/],
    [["sessions", "list", "--status", "paused"], /--status: must be open or ended/],
    [["sessions", "list", "--after", "yesterday"], /--after: must be an RFC 3339 date-time/],
    [["sessions", "list", "--since", "yesterday"], /--since: must be an RFC 3339 date-time/],
    [
      ["sessions", "list", "--since", "2026-01-01T00:00:00Z", "--after", "2026-01-01T00:00:00Z"],
      /--since: give it once \(--after is its older name\)/,
    ],
    [["sessions", "list", "--page-size", "-1"], /--page-size: needs a value/],
    [["sessions", "list", "--page-size", "abc"], /--page-size: must be an integer from 1 to 1000/],
    [["sessions", "list", "--page-size", "5000"], /--page-size: must be an integer from 1 to 1000 \(got "5000"\)/],
    [["sessions", "list", "--deadline-ms", "soon"], /--deadline-ms: must be a positive integer/],
    [["serve", "--address", "nowhere"], /--address: must be host:port/],
    [["serve", "--max-message-bytes", "12"], /--max-message-bytes: must be an integer from 1024/],
    [
      ["serve", "--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"],
      /--tls-cert: cannot read "\/nonexistent.pem" \(ENOENT\)/,
    ],
    [["serve", "--log-level", "loud"], /--log-level: must be one of debug, info, warn, error/],
    [["serve", "--token", "short"], /--token: a token must be at least 8 visible ASCII characters/],
    [["serve", "--token", "        "], /--token: a token must be at least 8 visible ASCII characters, without spaces/],
  ];
  for (const [args, message] of cases) {
    const r = await cli(args);
    assert.is(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.match(
      r.stderr,
      new RegExp(`^session-events: error: [^\n]*\nsee 'session-events ${args[0]}( ${args[1]})? --help'\n$`),
    );
  }
});

test("serve takes its settings from the environment too, naming the variable in errors", async () => {
  const r = await cli(["serve"], { SESSION_EVENTS_SHUTDOWN_GRACE_MS: "forever" });
  assert.is(r.status, 2);
  assert.match(r.stderr, /SESSION_EVENTS_SHUTDOWN_GRACE_MS: must be an integer from 0 to 600000/);
});

test.after(() => server.shutdown(1000));

test.run();
