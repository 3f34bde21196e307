/**
 * `archive export` from a JetStream log (issue 11's Archives): a 1-node
 * nats-server, the same records written to a data directory (SegmentLog) and
 * to JetStream (JetStreamLog), both exported, the bytes compared; the
 * command line in a real second process; a missing stream refused by name
 * and never created; the flag errors.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { exportArchive } from "../src/archive/index.js";
import { SegmentLog } from "../src/store/segment-log.js";
import { JetStreamEngine } from "../src/store/jetstream/engine.js";
import { logEntryBytes, sampleEvents, type LoggedEvent } from "./support/archive-log.js";
import { NatsCluster } from "./support/nats-cluster.js";
import { cliBin, tempDir } from "./support/repo.js";

let cluster: NatsCluster;

test.before(async () => {
  cluster = await NatsCluster.start({ nodes: 1 });
});
test.after(async () => {
  await cluster?.destroy();
});

const events = sampleEvents(24);
const sessions = events.filter((e) => e.kind === "session_started" || e.kind === "session_ended");
const vrp = events.filter((e) => e.kind === "vrp_received" || e.kind === "vrp_derived");

/** Appends as the collector makes them: singles, and (VRP) an event with the outcomes it caused as one atomic group. */
type Append = readonly LoggedEvent[];
const singles = (es: readonly LoggedEvent[]): Append[] => es.map((e) => [e]);
const grouped = (es: readonly LoggedEvent[]): Append[] => [[es[0]!], es.slice(1, 4), ...singles(es.slice(4))];

/** The same appends to a data directory and to JetStream (prefix of its own); returns the directory. */
async function writeBoth(prefix: string, family: "sessions" | "vrp", appends: readonly Append[]): Promise<string> {
  const dir = path.join(tempDir(), "data");
  const log = await SegmentLog.open({ dir, segmentBytes: 4096 });
  const engine = await JetStreamEngine.open({ servers: [cluster.servers], prefix });
  try {
    for (const append of appends) {
      const payloads = append.map(logEntryBytes);
      await log.appendGroup(payloads);
      await engine.logs[family].appendGroup(payloads);
    }
  } finally {
    await log.close();
    await engine.close();
  }
  return dir;
}

async function exported(input: string, options: Parameters<typeof exportArchive>[1]): Promise<Buffer> {
  await exportArchive(input, options);
  return readFileSync(options.output as string);
}

test("sessions: the same lines as from a data directory, in both layouts, and the same counts", async () => {
  const dir = await writeBoth("t-sessions", "sessions", singles(sessions));
  const out = tempDir();
  for (const layout of ["events", "records"] as const) {
    const fromDir = await exported(dir, { output: path.join(out, `dir-${layout}.jsonl`), layout });
    const fromNats = await exported(cluster.servers, {
      output: path.join(out, `nats-${layout}.jsonl`),
      layout,
      jetstream: { family: "sessions", prefix: "t-sessions" },
    });
    assert.is(fromNats.toString(), fromDir.toString(), layout);
    assert.is(fromDir.toString().trimEnd().split("\n").length, sessions.length);
  }
});

test("vrp with an atomic group: the same event lines (a group is one JetStream message, its records in order)", async () => {
  const dir = await writeBoth("t-vrp", "vrp", grouped(vrp));
  const out = tempDir();
  const fromDir = await exported(dir, { output: path.join(out, "dir.jsonl") });
  const fromNats = await exported(cluster.servers, {
    output: path.join(out, "nats.jsonl"),
    jetstream: { family: "vrp", prefix: "t-vrp" },
  });
  assert.is(fromNats.toString(), fromDir.toString());
  assert.is(fromDir.toString().trimEnd().split("\n").length, vrp.length);
});

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliBin, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

test("the command line: `archive export nats://… --family vrp` (prefix by flag or by serve's variable) writes what the data directory gives", async () => {
  const dir = await writeBoth("t-cli", "vrp", grouped(vrp));
  const fromDir = await cli(["archive", "export", dir, "--family", "vrp"]);
  assert.is(fromDir.code, 0, fromDir.stderr);
  const byFlag = await cli(["archive", "export", cluster.servers, "--family", "vrp", "--nats-prefix", "t-cli"]);
  assert.is(byFlag.code, 0, byFlag.stderr);
  assert.is(byFlag.stdout, fromDir.stdout);
  assert.is(byFlag.stderr, `export: ${vrp.length} events written from ${vrp.length} records, 0 damaged\n`);
  const out = path.join(tempDir(), "vrp.jsonl");
  const byEnv = await cli(["archive", "export", cluster.servers, "--family", "vrp", "-o", out], {
    SESSION_EVENTS_NATS_PREFIX: "t-cli",
  });
  assert.is(byEnv.code, 0, byEnv.stderr);
  assert.is(readFileSync(out, "utf8"), fromDir.stdout);
});

test("a missing stream is an error naming it, and exporting creates nothing", async () => {
  const result = await cli(["archive", "export", cluster.servers, "--family", "session", "--nats-prefix", "t-none"]);
  assert.is(result.code, 1, result.stderr);
  assert.match(result.stderr, "stream t-none_sessions does not exist");
  assert.is(result.stdout, "");
  const nc = await connect({ servers: cluster.servers });
  try {
    const jsm = await jetstreamManager(nc);
    const names: string[] = [];
    for await (const name of jsm.streams.names()) names.push(name);
    assert.not.ok(
      names.some((n) => n.startsWith("t-none")),
      `streams after the export: ${names.join(", ")}`,
    );
  } finally {
    await nc.close();
  }
});

test("flag errors name the flag: one --family, NATS flags only with a nats:// INPUT, server URLs checked", async () => {
  const noFamily = await cli(["archive", "export", cluster.servers]);
  assert.is(noFamily.code, 2);
  assert.match(noFamily.stderr, "--family: a JetStream INPUT needs exactly one, session or vrp");
  const both = await cli(["archive", "export", cluster.servers, "--family", "session,vrp"]);
  assert.is(both.code, 2);
  assert.match(both.stderr, "--family: a JetStream INPUT needs exactly one");
  const notNats = await cli(["archive", "export", tempDir(), "--nats-prefix", "p"]);
  assert.is(notNats.code, 2);
  assert.match(notNats.stderr, "--nats-prefix: only with a nats:// INPUT");
  const badUrl = await cli(["archive", "export", "nats://a:4222,http://b", "--family", "vrp"]);
  assert.is(badUrl.code, 2);
  assert.match(
    badUrl.stderr,
    'INPUT: each server must be nats://host[:port] or tls://host[:port], comma-separated (got "http://b")',
  );
  const badPrefix = await cli(["archive", "export", cluster.servers, "--family", "vrp", "--nats-prefix", "a.b"]);
  assert.is(badPrefix.code, 2);
  assert.match(badPrefix.stderr, "--nats-prefix: must be 1 to 64 of");
});

test.run();
