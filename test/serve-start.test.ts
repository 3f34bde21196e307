/**
 * `session-events serve` starting and stopping as a real process: a start
 * that fails says so in one JSON line naming the flag and leaves nothing it
 * created; `npm start` passes SIGTERM on (no orphan holding the port and the
 * lock); the bin stays executable after a build; the bearer scheme's case.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { createServer, connect, type AddressInfo } from "node:net";
import path from "node:path";
import { Metadata } from "@grpc/grpc-js";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { GetSessionRequest } from "../gen/oneiric/session/v1/session_service.js";
import { call, clientFor, rejection, startTestServer } from "./support/collector.js";
import { cliBin, repoRoot, tempDir } from "./support/repo.js";

function serve(args: string[]) {
  return spawnSync(process.execPath, [cliBin, "serve", ...args], { encoding: "utf8" });
}

test("a port in use: exit 1, one JSON line naming the address, and the data directory it created is gone", async () => {
  const busy = createServer().listen(0, "127.0.0.1");
  await new Promise((r) => busy.once("listening", r));
  const address = `127.0.0.1:${(busy.address() as AddressInfo).port}`;
  const dir = tempDir("port-in-use-");
  const dataDir = path.join(dir, "new", "data");
  const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
    // Asynchronously: the port is held by this very process.
    const child = spawn(process.execPath, [
      cliBin,
      "serve",
      "--address",
      address,
      "--data-dir",
      dataDir,
      "--log-level",
      "warn",
    ]);
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.on("close", (status) => resolve({ status, stderr }));
  });
  busy.close();
  assert.is(r.status, 1, r.stderr);
  const lines = r.stderr.trim().split("\n");
  assert.is(lines.length, 1, r.stderr);
  const entry = JSON.parse(lines[0]!) as { level: string; error: string };
  assert.is(entry.level, "error");
  assert.is(entry.error, `--address ${address}: cannot listen (the address is already in use)`);
  assert.equal(readdirSync(dir), [], "the directories serve created are removed");
});

test("--data-dir under a file names the flag, in one JSON line", () => {
  const dir = tempDir("data-dir-file-");
  writeFileSync(path.join(dir, "file"), "");
  const r = serve(["--address", "127.0.0.1:0", "--data-dir", path.join(dir, "file", "data")]);
  assert.is(r.status, 1);
  const entry = JSON.parse(r.stderr.trim()) as { error: string };
  assert.match(entry.error, /^--data-dir .*file\/data: cannot use it: a part of its path is a file, not a directory/);
});

test("a token of spaces is refused at start, naming the flag", () => {
  const r = serve(["--token", "        "]);
  assert.is(r.status, 2);
  assert.is(
    r.stderr,
    "session-events: error: --token: a token must be at least 8 visible ASCII characters, without spaces\nsee 'session-events serve --help'\n",
  );
});

test("the bearer scheme is case-insensitive (RFC 6750 / RFC 7235); the token is not", async () => {
  const server = await startTestServer({ token: "s3cret-token" });
  const client = clientFor(server.target);
  const get = (authorization: string) => {
    const metadata = new Metadata();
    metadata.set("authorization", authorization);
    return rejection(
      call(client, "getSession", GetSessionRequest.fromPartial({ sessionId: "sess_none" }), { metadata }),
    );
  };
  for (const scheme of ["Bearer", "bearer", "BEARER"])
    assert.is((await get(`${scheme} s3cret-token`)).details, 'session_id: no session "sess_none"', scheme);
  assert.is((await get("Bearer S3CRET-TOKEN")).details, "authorization: wrong token");
  assert.is((await get("Basic s3cret-token")).details, "authorization: wrong token");
  client.close();
  await server.shutdown(1000);
});

/** Every process under `pid` (its children, theirs, ...). */
function descendants(pid: number): number[] {
  const out: number[] = [];
  for (const task of existsSync(`/proc/${pid}/task`) ? readdirSync(`/proc/${pid}/task`) : []) {
    let children = "";
    try {
      children = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8");
    } catch {
      continue; // the task ended meanwhile
    }
    for (const child of children.trim().split(/\s+/).filter(Boolean).map(Number))
      out.push(child, ...descendants(child));
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8")); // a zombie has exited
  } catch {
    return false;
  }
}

test("SIGTERM to `npm start` stops the collector: the port and the data directory's lock are released", async () => {
  const dataDir = path.join(tempDir("npm-start-"), "data");
  // --ignore-scripts skips only the prestart build (done already); `start` itself runs as a user's would.
  const npm = spawn(
    "npm",
    ["start", "--silent", "--ignore-scripts", "--", "--address", "127.0.0.1:0", "--data-dir", dataDir],
    { cwd: repoRoot, stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  const port = await new Promise<number>((resolve, reject) => {
    npm.stderr.on("data", (d: Buffer) => {
      stderr += d;
      const m = /"msg":"listening".*"port":(\d+)/.exec(stderr);
      if (m) resolve(Number(m[1]));
    });
    npm.once("exit", (code) => reject(new Error(`npm start exited (${code}) before listening:\n${stderr}`)));
  });
  const under = descendants(npm.pid!);
  assert.ok(under.length >= 1, "the collector runs under npm");
  const exited = new Promise<number | null>((resolve) => npm.once("exit", (code) => resolve(code)));
  npm.kill("SIGTERM");
  assert.is(await exited, 0, stderr);
  assert.match(stderr, /"msg":"stopped"/);
  assert.equal(under.filter(alive), [], "nothing is left running");
  // The port: nothing listens. The lock: another collector opens the directory.
  const refused = await new Promise<boolean>((resolve) =>
    connect(port, "127.0.0.1")
      .once("error", () => resolve(true))
      .once("connect", () => resolve(false)),
  );
  assert.ok(refused, `port ${port} still accepts connections`);
  const again = await startTestServer({}, dataDir);
  await again.shutdown(1000);
});

test("the bin is executable after a build (npm's postbuild step), and runs as a command", () => {
  chmodSync(cliBin, 0o644); // as tsc leaves a file it wrote anew
  const r = spawnSync("npm", ["run", "--silent", "postbuild"], { cwd: repoRoot, encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  assert.is(statSync(cliBin).mode & 0o111, 0o111);
  const version = spawnSync(cliBin, ["--version"], { encoding: "utf8" });
  assert.is(version.status, 0, version.stderr);
  assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
  // scripts/test.sh builds with tsc directly: it must run the same step.
  assert.match(
    readFileSync(path.join(repoRoot, "scripts/test.sh"), "utf8"),
    /tsc -p tsconfig\.json && node scripts\/make-bin-executable\.mjs/,
  );
});

test.run();
