/**
 * Archive outputs (sink.ts and the CLI's -o / stdout): an output that fails is an error, never a hang or a
 * partial file; a pipe closed early is not a crash; a FIFO is written into; backpressure holds.
 * Every await that could hang is raced against a generous timer (a liveness guard, not a speed test).
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync, createWriteStream, lstatSync, readFileSync, existsSync } from "node:fs";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { test } from "uvu";
import { until } from "./support/until.js";
import * as assert from "uvu/assert";
import { exportArchive, importArchive, type ArchiveDamage } from "../src/archive/index.js";
import { logEntryBytes, sampleEvents, writeDataDir, writeSegmentFile } from "./support/archive-log.js";
import { tempDir } from "./support/repo.js";
import { validVrp } from "./support/fixtures.js";
import { skipped } from "./support/skip.js";
import { Writable, PassThrough } from "node:stream";
import { openSink } from "../src/archive/sink.js";
import { cli, within, bigSegment, partials, HANG, settles } from "./support/archive-run.js";

test("sink: an output that cannot be written is an error, not a job that never settles (and no partial file is left)", async () => {
  const dir = tempDir();
  const input = path.join(dir, "log.seg");
  writeSegmentFile(input, sampleEvents(4).map(logEntryBytes));
  // -o names an existing directory: the final rename fails, abort() then waits for a 'close' that already happened.
  const outDir = path.join(dir, "out");
  mkdirSync(path.join(outDir, "x"), { recursive: true });
  const r = await within(exportArchive(input, { output: outDir }), 5000);
  assert.ok(!r.pending, "exportArchive never settles when -o is a directory");
  assert.ok(r.error, "and it must fail");
  assert.equal(partials(dir), [], "no .partial- file left behind");
  // A missing parent directory: the open fails, same hang.
  const r2 = await within(exportArchive(input, { output: path.join(dir, "missing", "out.jsonl") }), 5000);
  assert.ok(!r2.pending, "exportArchive never settles when the output's directory is missing");
});

// strace watches a real CLI process's syncs, and makes one fail (installed, and allowed to trace here).
const hasStrace = spawnSync("strace", ["-f", "-qq", "-e", "trace=none", "true"]).status === 0;
if (!hasStrace && process.env.CI !== "true") {
  skipped("sink: background syncs", "apt-get install strace to run it");
} else {
  /** `archive export ARGS` under strace, which writes the calls it traces to `trace`; `filters` are its -e options. */
  const exportTraced = (args: string[], trace: string, ...filters: string[]) => {
    assert.ok(hasStrace, "strace is missing, or may not trace here");
    const under = ["strace", "-f", "--seccomp-bpf", "-qq", "-o", trace, ...filters.flatMap((f) => ["-e", f])];
    return cli(["archive", "export", ...args], { under });
  };

  test("sink: a file is synced in the background as it grows, and a background sync that fails fails the job (EIO injected by strace)", async () => {
    const dir = tempDir();
    const input = path.join(dir, "big.seg");
    const events = 60_000; // about 10 MiB of JSON Lines: past the first background sync (every 8 MiB)
    bigSegment(input, events);
    const out = path.join(dir, "out.jsonl");
    const trace = path.join(dir, "synced.trace");
    const synced = await exportTraced([input, "-o", out], trace, "trace=fdatasync,fsync");
    assert.is(synced.code, 0, synced.stderr);
    assert.is(readFileSync(out, "utf8").split("\n").length - 1, events, "every event written");
    const calls = readFileSync(trace, "utf8");
    assert.ok(/fdatasync\(\d+\)\s+= 0/.test(calls), `no background fdatasync while writing:\n${calls}`);
    assert.ok(/ fsync\(\d+\)\s+= 0/.test(calls), `no fsync at the end:\n${calls}`);

    const failedOut = path.join(dir, "failed.jsonl");
    const failed = await exportTraced(
      [input, "-o", failedOut],
      `${trace}.failed`,
      "trace=fdatasync",
      "inject=fdatasync:error=EIO",
    );
    assert.is(failed.code, 1, `exit ${failed.code}, stderr ${JSON.stringify(failed.stderr)}`);
    assert.match(failed.stderr, /EIO/);
    assert.ok(/fdatasync\(\d+\)\s+= -1 EIO/.test(readFileSync(`${trace}.failed`, "utf8")), "the failure was injected");
    assert.not.ok(existsSync(failedOut), "no archive under the name asked for");
    assert.equal(partials(dir), [], "no partial file left");
  });

  test("sink: a gzip'd file's last background sync is waited for before gzip's end closes the file (a slow fdatasync, delayed by strace)", async () => {
    const dir = tempDir();
    const input = path.join(dir, "random.seg");
    // Events with random text: their gzip'd export (about 12 MB) still passes the first background sync.
    const events = 4000;
    writeSegmentFile(
      input,
      Array.from({ length: events }, () =>
        logEntryBytes({
          kind: "vrp_received",
          json: { ...validVrp(), details: { blob: randomBytes(3000).toString("base64") } },
          producerId: "p",
          producerSequence: 1n,
          receivedAt: "2026-02-06T12:00:00Z",
        }),
      ),
    );
    const out = path.join(dir, "out.jsonl.gz");
    const trace = path.join(dir, "slow.trace");
    const r = await exportTraced(
      [input, "-o", out, "--gzip"],
      trace,
      "trace=fdatasync",
      "inject=fdatasync:delay_enter=1500000",
    );
    assert.is(r.code, 0, `exit ${r.code}, stderr ${JSON.stringify(r.stderr)}`);
    assert.ok(/= 0 \(DELAYED\)/.test(readFileSync(trace, "utf8")), "a delayed background sync that succeeded");
    assert.is(gunzipSync(readFileSync(out)).toString("utf8").split("\n").length - 1, events, "every event written");
  });
}

test("CLI: -o an unwritable path prints an error and exits 1 (today: silent exit 13, partial file left)", async () => {
  const dir = tempDir();
  const input = path.join(dir, "log.seg");
  writeSegmentFile(input, sampleEvents(4).map(logEntryBytes));
  mkdirSync(path.join(dir, "out", "x"), { recursive: true });
  const r = await cli(["archive", "export", input, "-o", path.join(dir, "out")]);
  assert.is(r.code, 1, `exit ${r.code}, stderr ${JSON.stringify(r.stderr)}`);
  assert.match(r.stderr, "error");
  assert.equal(partials(dir), []);
});

test("CLI: export --gzip into a pipe closed early (| head -c) does not end in a silent exit 13", async () => {
  const dir = tempDir();
  const input = path.join(dir, "big.seg");
  bigSegment(input, 20_000);
  const r = await cli(["archive", "export", input, "--gzip"], { closeStdoutAfterFirstChunk: true });
  assert.not.ok(r.timedOut, "hung");
  assert.is.not(
    r.code,
    13,
    "exit 13 is Node's 'unsettled top-level await': the job waited for a drain that never came",
  );
});

test("CLI: verify into a pipe closed early (| head -1) is not an unhandled 'error' event with a stack trace", async () => {
  const dir = tempDir();
  const input = path.join(dir, "zeros.bin");
  writeFileSync(input, Buffer.alloc(200_000)); // as delimited: 200,000 empty records, each damage printed to stdout
  const r = await cli(["archive", "verify", input, "--format", "delimited"], { closeStdoutAfterFirstChunk: true });
  assert.not.match(r.stderr, "Unhandled 'error' event");
  assert.not.match(r.stderr, "    at ");
});

test("CLI: verify's damage lines on stdout honour backpressure (constant memory with many damaged records)", async () => {
  const dir = tempDir();
  const input = path.join(dir, "zeros.bin");
  writeFileSync(input, Buffer.alloc(150_000)); // 150 KB of input -> ~22 MB of damage lines, more than the heap
  const r = await cli(["archive", "verify", input, "--format", "delimited"], {
    nodeArgs: ["--max-old-space-size=16"],
    timeoutMs: 120_000,
  });
  assert.not.match(r.stderr, "heap out of memory");
  assert.is(r.code, 1, `exit ${r.code}`);
  assert.is(r.stdout.split("\n").filter((l) => /^damaged: .* record \d+/.test(l)).length, 150_000);
});

test("import: damage skipped leaves no partial file beside the output", async () => {
  const dir = tempDir();
  const input = path.join(dir, "in.jsonl");
  writeFileSync(input, "{}\n");
  const damage: ArchiveDamage[] = [];
  await importArchive(input, { output: path.join(dir, "out.seg"), onDamage: (d) => damage.push(d) });
  assert.is(damage.length, 1);
  assert.equal(partials(dir), []);
});

test("sink: -o naming a FIFO writes into the FIFO instead of replacing it with a regular file", async () => {
  const dir = tempDir();
  const data = path.join(dir, "data");
  await writeDataDir(data, sampleEvents(12));
  const fifo = path.join(dir, "fifo");
  const made = spawnSync("mkfifo", [fifo]);
  assert.is(made.status, 0, `mkfifo: ${made.stderr}`);
  const reader = spawn("cat", [fifo]);
  let got = "";
  reader.stdout.setEncoding("utf8").on("data", (d: string) => (got += d));
  try {
    await exportArchive(data, { output: fifo });
    await until(
      () => got.split("\n").filter(Boolean).length === 12 || !lstatSync(fifo).isFIFO(),
      "the FIFO's reader got every line",
      5000,
    ).catch(() => {});
    // The same happens to -o /dev/null or -o /dev/stdout when run as root: the device node is replaced.
    assert.ok(lstatSync(fifo).isFIFO(), "the FIFO was renamed over by a regular file");
    assert.is(got.split("\n").filter(Boolean).length, 12, "the FIFO's reader got nothing");
  } finally {
    reader.kill("SIGKILL");
  }
});

test("library: exportArchive to a stream whose writes fail asynchronously rejects", async () => {
  const dir = tempDir();
  const data = path.join(dir, "data");
  await writeDataDir(data, sampleEvents(12));
  const out = createWriteStream("/dev/full");
  out.on("error", () => {});
  let outcome: string;
  try {
    const s = await exportArchive(data, { output: out });
    outcome = `resolved, written ${s.written}`;
  } catch (e) {
    outcome = `rejected: ${(e as Error).message}`;
  }
  assert.match(outcome, /^rejected: .*ENOSPC/, outcome);
});

test("sink: a given stream closed without an error (an HTTP response whose client left) fails the write, never stalls it", async () => {
  const stream = new Writable({ highWaterMark: 10, write() {} }); // never drains
  const sink = openSink(stream, { batchBytes: 0 });
  const written = sink.write("x".repeat(100)).then(
    () => "resolved",
    () => "rejected",
  );
  setTimeout(() => stream.destroy(), 50);
  assert.ok((await settles(written)) !== HANG, "the write waits for a 'drain' that never comes");
});

test("sink: finished sinks leave no listeners on a given stream", async () => {
  const stream = new PassThrough();
  stream.resume();
  const before = stream.listenerCount("error");
  for (let i = 0; i < 3; i++) {
    const sink = openSink(stream, { gzip: i % 2 === 0 });
    await sink.write("hello\n");
    await sink.finish();
  }
  assert.is(
    stream.listenerCount("error"),
    before,
    "an 'error' listener (holding the sink) is added per sink and never removed",
  );
});

test.run();
