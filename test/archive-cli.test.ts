/**
 * The archive commands as a user runs them, in a real second process: pipes,
 * exit codes, flag errors, progress on a terminal (a pseudo-terminal made by
 * util-linux `script`) and none when piped, and a bounded heap on a big log.
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { HEADER_BYTES, SEGMENT_HEADER_BYTES, encodeFrame, encodeSegmentHeader } from "../src/store/frame.js";
import { logEntryBytes, sampleEvents, writeDataDir, writeSegmentFile } from "./support/archive-log.js";
import { cliBin, tempDir } from "./support/repo.js";

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], options: { input?: string; nodeArgs?: string[] } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), cliBin, ...args], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}

const dataDir = async () => {
  const dir = tempDir();
  await writeDataDir(path.join(dir, "data"), sampleEvents(12));
  return dir;
};

test("export to a pipe, import from stdin, verify: exit 0 and nothing on stderr but the result line", async () => {
  const dir = await dataDir();
  const exported = await cli(["archive", "export", path.join(dir, "data"), "--family", "vrp"]);
  assert.is(exported.code, 0, exported.stderr);
  assert.is(exported.stdout.trimEnd().split("\n").length, 6);
  assert.is(exported.stderr, "export: 6 events written from 12 records, 6 left out by filters, 0 damaged\n");
  const imported = await cli(["archive", "import", "-", "-o", path.join(dir, "vrp.seg")], { input: exported.stdout });
  assert.is(imported.code, 0, imported.stderr);
  const verified = await cli(["archive", "verify", path.join(dir, "vrp.seg")]);
  assert.is(verified.code, 0, verified.stderr);
  assert.match(
    verified.stdout,
    "records: 6\nvalid events: 6\n  VrpEvent: 6\n    PATH_SELECTED: 3\n    STATE_CHANGE: 3\n",
  );
  assert.match(verified.stdout, "log sequences: 1..6\ndamaged: 0\n");
  assert.is(verified.stderr, "");
  const json = await cli(["archive", "verify", path.join(dir, "vrp.seg"), "--json"]);
  assert.equal(JSON.parse(json.stdout).byVrpEventType, { PATH_SELECTED: 3, STATE_CHANGE: 3 });
});

test("damage: verify exits 1 naming each record; export stops (1) or skips (3) as asked", async () => {
  const dir = tempDir();
  const file = path.join(dir, "log.seg");
  const payloads = sampleEvents(5).map(logEntryBytes);
  writeSegmentFile(file, payloads);
  const bytes = readFileSync(file);
  const first = SEGMENT_HEADER_BYTES; // the first record's frame, after the segment header
  bytes[first + HEADER_BYTES + 3]! ^= 0xff; // inside the first record's payload
  writeFileSync(file, bytes.subarray(0, bytes.length - 2)); // and a torn tail

  const verified = await cli(["archive", "verify", file]);
  assert.is(verified.code, 1);
  assert.match(verified.stdout, `damaged: ${file} record 1 (byte ${first}): payload checksum mismatch`);
  assert.match(verified.stdout, `damaged: ${file} record 5 (byte `);
  assert.match(verified.stdout, "[torn]");
  assert.match(verified.stdout, "valid events: 3\n");

  const stopped = await cli(["archive", "export", file, "-o", path.join(dir, "out.jsonl")]);
  assert.is(stopped.code, 1);
  assert.match(
    stopped.stderr,
    `export: stopped at damage (--on-damage skip reports it and goes on):\n  ${file} record 1 (byte ${first}): payload checksum mismatch`,
  );
  assert.is(spawnSync("ls", [dir], { encoding: "utf8" }).stdout, "log.seg\n");

  const skipped = await cli(["archive", "export", file, "-o", path.join(dir, "out.jsonl"), "--on-damage", "skip"]);
  assert.is(skipped.code, 3);
  assert.is(readFileSync(path.join(dir, "out.jsonl"), "utf8").trimEnd().split("\n").length, 3);
  assert.match(skipped.stderr, "export: 3 events written from 5 records, 2 damaged\n");
});

test("bad flags are usage errors (exit 2) that name the flag and the rule", async () => {
  const dir = await dataDir();
  const data = path.join(dir, "data");
  const cases: [string[], string][] = [
    [["--layout", "yaml"], '--layout: must be one of events, records (got "yaml")'],
    [["--family", "sessions"], '--family: must be one of session, vrp (got "sessions")'],
    [["--since", "yesterday"], "--since: must be an RFC 3339 date-time"],
    [["--since", "2026-01-02T00:00:00Z", "--until", "2026-01-01T00:00:00Z"], "--until: must be after since"],
    [["--on-damage", "ignore"], "--on-damage: must be one of stop, skip"],
    [["--format", "csv"], "--format: must be one of auto, log, segment, delimited, jsonl"],
    [["--input-format", "csv"], "--input-format: must be one of auto, log, segment, delimited, jsonl"],
    [["--bogus"], "--bogus: unknown flag"],
  ];
  for (const [flags, message] of cases) {
    const r = await cli(["archive", "export", data, ...flags]);
    assert.is(r.code, 2, flags.join(" "));
    assert.match(r.stderr, message);
    assert.match(r.stderr, "\nsee 'session-events archive export --help'\n");
    assert.is(r.stderr.split("\n").length, 3, r.stderr); // one line, the pointer to help, the final newline
    assert.is(r.stdout, "");
  }
  const noOutput = await cli(["archive", "import", data]);
  assert.equal(
    [noOutput.code, noOutput.stderr.split("\n")[0]],
    [2, "session-events: error: -o: is required (a FILE, or - for stdout)"],
  );
  const missing = await cli(["archive", "verify", path.join(dir, "nope")]);
  assert.equal(
    [missing.code, missing.stderr],
    [1, `session-events: error: ${path.join(dir, "nope")}: no such file or directory\n`],
  );
});

/** A segment of about `megabytes` MB: its header, then framed records. */
function bigSegment(file: string, megabytes: number): number {
  const payloads = sampleEvents(12).map(logEntryBytes);
  const fd = openSync(file, "w");
  let sequence = 1n;
  let bytes = writeSync(fd, encodeSegmentHeader(sequence));
  while (bytes < megabytes * 1e6) {
    const frames = Array.from({ length: 2000 }, (_, i) => encodeFrame(sequence++, payloads[i % payloads.length]!));
    bytes += writeSync(fd, Buffer.concat(frames));
  }
  closeSync(fd);
  return Number(sequence - 1n);
}

test("progress: a bar with rate and ETA on a terminal, nothing when stderr is not one", async () => {
  const dir = tempDir();
  const file = path.join(dir, "big.seg");
  bigSegment(file, 2); // the first update draws; later ones at most every 200 ms
  const out = path.join(dir, "out.jsonl");
  const command = `${process.execPath} ${cliBin} archive export ${file} -o ${out}`;
  // `script` runs the command on a pseudo-terminal and copies what it writes there to our stdout.
  const onTty = spawnSync("script", ["-qec", command, "/dev/null"], { encoding: "utf8" });
  assert.is(onTty.status, 0, onTty.stderr);
  assert.match(
    onTty.stdout,
    /\rexport \[[= >]+\] +\d+% +[\d.]+ MB\/s +[\d,]+ events\/s +ETA (\d+:\d\d|--:--)/,
    JSON.stringify(onTty.stdout.slice(-400)),
  );
  assert.match(onTty.stdout, /export: \d+ events written/);
  const piped = await cli(["archive", "export", file, "-o", out]);
  assert.is(piped.code, 0);
  assert.not.match(piped.stderr, "\r");
  assert.is(piped.stderr.split("\n").length, 2, "only the result line");
  const quiet = spawnSync("script", ["-qec", `${command} --no-progress`, "/dev/null"], { encoding: "utf8" });
  assert.not.match(quiet.stdout, "MB/s");
});

test("constant memory: a log much bigger than the heap limit exports under --max-old-space-size=16", async () => {
  const dir = tempDir();
  const file = path.join(dir, "big.seg");
  const events = bigSegment(file, 16);
  const out = path.join(dir, "out.jsonl.gz");
  const r = await cli(["archive", "export", file, "-o", out], { nodeArgs: ["--max-old-space-size=16"] });
  assert.is(r.code, 0, r.stderr);
  // Holding the output (some 35 MB of JSON text) or the input's records would not fit that heap.
  assert.is(r.stderr, `export: ${events} events written from ${events} records, 0 damaged\n`);
});

test.run();
