/** Retention: the flags, the pass (limits, oldest first, never the active segment, never past what the state applied), archives, and the collector wired to it. */
import { readdirSync, rmSync, utimesSync } from "node:fs";
import path from "node:path";
import { status, type ServiceError } from "@grpc/grpc-js";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readArchive, verifyArchive } from "../src/archive/index.js";
import { subscribeVrp } from "../src/client/vrp.js";
import { parseServeConfig } from "../src/cli/serve-config.js";
import { createLogger, silentLogger } from "../src/server/logger.js";
import { retentionPass } from "../src/server/retention.js";
import { startServer, type RunningServer } from "../src/server/server.js";
import { SegmentLog } from "../src/store/segment-log.js";
import { vrpEntry } from "./support/log-entries.js";
import { bridges } from "../src/bridge/index.js";
import type { SessionStartEventJson } from "../src/contract/types.js";
import { SessionStartEvent } from "../src/session/models.js";
import { tempDir } from "./support/repo.js";

const segs = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith(".seg"))
    .sort();
const archives = (dir: string) =>
  readdirSync(dir)
    .filter((f) => /^\d{20}-\d{20}\.jsonl\.gz$/.test(f))
    .sort();
async function filled(records = 120): Promise<{ dir: string; log: SegmentLog }> {
  const dir = tempDir();
  const log = await SegmentLog.open({ dir, segmentBytes: 2048 });
  for (let i = 0; i < records; i++) await log.append(vrpEntry(i));
  return { dir, log };
}
const deps = (log: SegmentLog, extra: { safeThrough?: () => bigint; now?: () => number; lines?: string[] } = {}) => ({
  log,
  safeThrough: extra.safeThrough ?? (() => log.lastSequence),
  logger: extra.lines ? createLogger("debug", (l) => extra.lines!.push(l)) : silentLogger,
  now: extra.now,
});
const usage = (args: string[]) => {
  try {
    parseServeConfig(args, {});
  } catch (e) {
    return (e as Error).message;
  }
  return "no error";
};

test("the retention flags parse durations and sizes, and every mistake names its flag", () => {
  const config = parseServeConfig(
    ["--retention-age", "30d", "--retention-bytes", "50GiB", "--archive-dir", tempDir()],
    {},
  );
  assert.is(config.retention.maxAgeMs, 30 * 86_400_000);
  assert.is(config.retention.maxBytes, 50 * 2 ** 30);
  assert.is(parseServeConfig(["--retention-bytes", "1000000"], {}).retention.maxBytes, 1_000_000);
  assert.is(parseServeConfig([], {}).retention.maxAgeMs, undefined);
  assert.match(
    usage(["--retention-age", "30 days"]),
    /^--retention-age: must be a positive duration.*\(got "30 days"\)/,
  );
  assert.match(usage(["--retention-age", "0s"]), /^--retention-age: must be a positive duration/);
  assert.match(usage(["--retention-bytes", "five"]), /^--retention-bytes: must be a positive size/);
  assert.match(usage(["--retention-bytes", "10XB"]), /^--retention-bytes: must be a positive size/);
  assert.match(
    usage(["--archive-dir", tempDir()]),
    /^--archive-dir: archives what retention removes, so it needs --retention-age or --retention-bytes/,
  );
  assert.match(
    usage(["--retention-age", "1d", "--archive-dir", "/nonexistent/x"]),
    /^--archive-dir: must be an existing directory/,
  );
  assert.match(usage(["--retention-interval-ms", "5"]), /^--retention-interval-ms: must be an integer from 100/);
});

test("a size limit removes the oldest closed segments until the log fits, never the active one", async () => {
  const { dir, log } = await filled();
  const before = segs(dir);
  const result = await retentionPass({ maxBytes: 4096 }, deps(log));
  const after = segs(dir);
  assert.equal(result.removed, before.slice(0, before.length - after.length));
  assert.equal(after, before.slice(before.length - after.length), "what is left is the newest segments");
  assert.ok(log.segmentsHeld().reduce((n, s) => n + s.bytes, 0) <= 4096);
  await retentionPass({ maxBytes: 1 }, deps(log));
  assert.equal(segs(dir), [before.at(-1)!], "only the active segment is left");
  await log.close();
});

test("an age limit removes segments last written before it, by their modification time", async () => {
  const { dir, log } = await filled();
  const names = segs(dir);
  const now = Date.now();
  const old = new Date(now - 3_600_000);
  for (const name of names.slice(0, 3)) utimesSync(path.join(dir, name), old, old);
  const result = await retentionPass({ maxAgeMs: 600_000 }, deps(log, { now: () => now }));
  assert.equal(result.removed, names.slice(0, 3));
  await log.close();
});

test("nothing the derived state has not durably applied is removed", async () => {
  const { dir, log } = await filled();
  const names = segs(dir);
  const applied = BigInt(names[2]!.slice(0, 20)) - 1n; // all of the first two segments, nothing of the third
  const lines: string[] = [];
  const result = await retentionPass({ maxBytes: 1 }, deps(log, { safeThrough: () => applied, lines }));
  assert.equal(result.removed, names.slice(0, 2));
  assert.is(result.stoppedBy, "not_applied");
  assert.equal(segs(dir), names.slice(2));
  assert.ok(lines.some((l) => l.includes("kept until the derived state has applied it")));
  await log.close();
});

test("with an archive directory, each segment is exported (records layout, verified) before it is removed", async () => {
  const { dir, log } = await filled();
  const archiveDir = tempDir();
  const names = segs(dir);
  const result = await retentionPass({ maxBytes: 1, archiveDir }, deps(log));
  assert.is(result.removed.length, names.length - 1);
  assert.equal(
    archives(archiveDir),
    result.archived.map((f) => path.basename(f)),
  );
  assert.equal(
    readdirSync(archiveDir).filter((f) => f.startsWith(".")),
    [],
    "nothing left aside",
  );
  // Each archive holds exactly its segment's records, with their log sequences; together, all that was removed.
  const sequences: bigint[] = [];
  for (const name of archives(archiveDir)) {
    const [first, last] = name.replace(".jsonl.gz", "").split("-").map(BigInt) as [bigint, bigint];
    const summary = await verifyArchive(path.join(archiveDir, name));
    assert.is(summary.damaged, 0);
    assert.equal([BigInt(summary.firstSequence!), BigInt(summary.lastSequence!)], [first, last]);
    for await (const event of readArchive(path.join(archiveDir, name))) sequences.push(event.log!.sequence!);
  }
  assert.equal(
    sequences,
    Array.from({ length: Number(log.firstSequence) - 1 }, (_, i) => BigInt(i + 1)),
  );
  await log.close();
});

test("a failing export keeps the segment (and all after it), and says so in the log", async () => {
  const { dir, log } = await filled();
  const archiveDir = tempDir();
  rmSync(archiveDir, { recursive: true }); // the directory went away: every export fails
  const names = segs(dir);
  const lines: string[] = [];
  const result = await retentionPass({ maxBytes: 1, archiveDir }, deps(log, { lines }));
  assert.is(result.stoppedBy, "archive_failed");
  assert.equal(result.removed, []);
  assert.equal(segs(dir), names);
  const logged = lines
    .map((l) => JSON.parse(l) as { level: string; msg: string; segment?: string })
    .find((l) => l.msg.startsWith("retention: archiving a segment failed"));
  assert.is(logged?.level, "error");
  assert.is(logged?.segment, path.join(dir, names[0]!));
  await log.close();
});

test("retention on a collector: segments archived and removed, Subscribe before them answers OUT_OF_RANGE, and after a restart their sessions still answer and a retried start is still a duplicate", async () => {
  const archiveDir = tempDir();
  const args = [
    "--address",
    "127.0.0.1:0",
    "--data-dir",
    tempDir(),
    "--segment-bytes",
    "4096",
    "--retention-bytes",
    "8KiB",
  ];
  args.push("--archive-dir", archiveDir, "--retention-interval-ms", "100", "--checkpoint-records", "5");
  const starts: { json: SessionStartEventJson; sessionId: string }[] = [];
  let server: RunningServer = await startServer(parseServeConfig(args, {}), silentLogger);
  try {
    for (let i = 0; i < 120; i++) {
      const json = SessionStartEvent.create({ componentName: "retention", shellType: "bash" });
      const { sessionId } = await server.collector.emitStart(bridges.SessionStartEvent.fromJson(json));
      starts.push({ json, sessionId });
    }
    const deadline = Date.now() + 10_000;
    while (server.log.firstSequence === 1n && Date.now() < deadline) {
      await server.retention!.runNow();
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(server.log.firstSequence > 1n, "segments were removed");
    assert.ok(archives(archiveDir).length > 0);
    try {
      for await (const _ of subscribeVrp({ target: `127.0.0.1:${server.port}`, afterSequence: 0n }))
        assert.unreachable("no record should come");
    } catch (e) {
      assert.is((e as ServiceError).code, status.OUT_OF_RANGE, (e as Error).message);
      assert.match((e as ServiceError).details, "the oldest sequence still held is");
    }
  } finally {
    await server.shutdown(0);
  }
  // The state store, not the removed segments, answers for them now.
  server = await startServer(parseServeConfig(args, {}), silentLogger);
  try {
    for (const s of starts) assert.is(server.collector.getSession(s.sessionId).sessionId, s.sessionId);
    const retried = await server.collector.emitStart(bridges.SessionStartEvent.fromJson(starts[0]!.json));
    assert.equal(retried, { sessionId: starts[0]!.sessionId, status: "duplicate" });
  } finally {
    await server.shutdown(0);
  }
});

test.run();
