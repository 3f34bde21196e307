/**
 * What every command of the CLI has in common: --version, help for the
 * whole, a group and a command; one-line usage errors that name the flag and
 * point at the command's help; --json results that carry the status; the
 * older flag names still accepted.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startTestServer } from "./support/collector.js";
import { cliBin, repoRoot } from "./support/repo.js";

const server = await startTestServer();

function cli(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [cliBin, ...args], {
    env: { ...process.env, SESSION_EVENTS_TARGET: server.target },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d));
  child.stderr.on("data", (d: Buffer) => (stderr += d));
  return new Promise((resolve) => child.on("close", (status) => resolve({ status, stdout, stderr })));
}

const { version } = JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { version: string };

test("--version, -V and version print the package's version", async () => {
  const words = ["--version", "-V", "version"];
  const runs = await Promise.all(words.map((word) => cli(word)));
  for (const [i, r] of runs.entries()) assert.equal([r.status, r.stdout, r.stderr], [0, `${version}\n`, ""], words[i]);
});

test("help: the whole (help, --help), a group (alone: exit 2; with --help: 0), a command", async () => {
  for (const r of await Promise.all([["help"], ["--help"], ["-h"]].map((args) => cli(...args)))) {
    assert.is(r.status, 0);
    assert.match(r.stdout, /^usage: session-events <command>/);
    for (const group of ["serve", "emit", "sessions", "health", "schemas", "archive", "vrp", "log"])
      assert.match(r.stdout, new RegExp(`\\n${group} `));
  }
  const groups = ["emit", "sessions", "schemas", "archive", "log", "vrp"];
  const answers = await Promise.all(
    groups.map(async (group) => [await cli(group), await cli(group, "--help")] as const),
  );
  for (const [i, [alone, help]] of answers.entries()) {
    const group = groups[i]!;
    assert.is(alone.status, 2, group);
    assert.match(alone.stderr, new RegExp(`^usage: session-events ${group} <command>`));
    assert.is(help.status, 0, group);
    assert.match(help.stdout, new RegExp(`^usage: session-events ${group} <command>`));
    assert.match(help.stdout, new RegExp(`session-events ${group} \\w+`));
  }
  const command = await cli("help", "emit", "start");
  assert.is(command.status, 0);
  assert.match(command.stdout, /^usage: session-events emit start --component NAME/);
  const unknown = await cli("emit", "pause");
  assert.is(unknown.status, 2);
  assert.match(unknown.stderr, /^session-events: error: emit pause: unknown command\n/);
});

test("a usage error is one line naming the flag, then where help is; no unbalanced quotes", async () => {
  const cases: [string[], string][] = [
    [["serve", "--bogus"], "--bogus: unknown flag"],
    [["serve", "--address"], "--address: needs a value"],
    [["archive", "verify", "x", "--json=yes"], "--json: takes no value"],
    [["sessions", "list", "--page-size", "abc"], '--page-size: must be an integer from 1 to 1000 (got "abc")'],
    [["emit", "end", "sess_x", "--target"], "--target: needs a value"],
    [["schemas", "export", "--target", "x"], "--target: unknown flag ('schemas export' does not call a collector)"],
  ];
  const runs = await Promise.all(cases.map(([args]) => cli(...args)));
  for (const [i, [args, message]] of cases.entries()) {
    const r = runs[i]!;
    const command = args.slice(0, args[0] === "serve" ? 1 : 2).join(" ");
    assert.equal(
      [r.status, r.stderr],
      [2, `session-events: error: ${message}\nsee 'session-events ${command} --help'\n`],
      args.join(" "),
    );
  }
});

test("emit --json carries the status: created, ended, and duplicate for a repeated end (said on stderr without --json)", async () => {
  const started = await cli("emit", "start", "--component", "cli-json", "--shell-type", "Shell", "--json");
  assert.is(started.status, 0, started.stderr);
  const start = JSON.parse(started.stdout) as { session_id: string; status: string };
  assert.is(start.status, "created");
  const ended = await cli("emit", "end", start.session_id, "--json");
  assert.equal(JSON.parse(ended.stdout), { session_id: start.session_id, status: "ended" });
  const again = await cli("emit", "end", start.session_id, "--json");
  assert.is(again.status, 0);
  assert.equal(JSON.parse(again.stdout), { session_id: start.session_id, status: "duplicate" });
  const text = await cli("emit", "end", start.session_id);
  assert.equal([text.status, text.stdout], [0, `${start.session_id}\n`]);
  assert.match(text.stderr, /had already ended \(duplicate\): nothing more was stored/);
});

test("sessions list: --since/--until, and the older --after/--before, give the same page", async () => {
  const since = new Date(Date.now() - 60_000).toISOString();
  const until = new Date(Date.now() + 60_000).toISOString();
  const now = await cli("sessions", "list", "--component", "cli-json", "--since", since, "--until", until);
  const old = await cli("sessions", "list", "--component", "cli-json", "--after", since, "--before", until);
  assert.is(now.status, 0, now.stderr);
  assert.is(JSON.parse(now.stdout).sessions.length, 1);
  assert.is(old.stdout, now.stdout);
});

test("health answers SERVING, as text or JSON, and waits for a collector that is not up yet", async () => {
  const r = await cli("health", "--json");
  assert.equal([r.status, JSON.parse(r.stdout)], [0, { service: "", status: "SERVING" }]);
  const named = await cli("health", "--service", "oneiric.session.v1.SessionService");
  assert.equal([named.status, named.stdout], [0, "SERVING\n"]);
  const nowhere = await cli("health", "--target", "127.0.0.1:1", "--deadline-ms", "300");
  assert.is(nowhere.status, 1);
  assert.match(nowhere.stderr, /UNAVAILABLE|DEADLINE_EXCEEDED/);
});

test.after(() => server.shutdown(1000));

test.run();
