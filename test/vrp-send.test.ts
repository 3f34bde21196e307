/** `session-events vrp send`: real JSON Lines through the real CLI into a collector on loopback. */
import { spawn } from "node:child_process";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Writable } from "node:stream";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { credentials } from "@grpc/grpc-js";
import { readArchive } from "../src/archive/index.js";
import { bridges } from "../src/bridge/index.js";
import { VrpProducer, VrpRejectedError } from "../src/client/vrp.js";
import type { VrpEventJson } from "../src/contract/types.js";
import { main } from "../src/cli/main.js";
import {
  StreamEventsRequest,
  VrpStreamServiceClient,
  type StreamEventsResponse,
} from "../gen/vrp/v1alpha1/vrp_service.js";
import { startTestServer, type TestServer } from "./support/collector.js";
import { cliBin, repoRoot, tempDir } from "./support/repo.js";

const FLAT_MAP = path.join(repoRoot, "docs/vrp-dialects/flat-payload.json");
const LOWER_MAP = path.join(repoRoot, "docs/vrp-dialects/event-lowercase.yaml");
const NOWHERE = "127.0.0.1:1"; // nothing listens there

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI as a real process (asynchronously: the collector runs in this process). */
function cli(args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<Result> {
  const child = spawn(process.execPath, [cliBin, ...args], { env: { ...process.env, ...options.env } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d));
  child.stderr.on("data", (d: Buffer) => (stderr += d));
  child.stdin.end(options.input ?? "");
  return new Promise((resolve) => child.on("close", (status) => resolve({ status, stdout, stderr })));
}

/** `vrp send ... --json` against a collector; the parsed summary. */
async function send(
  server: TestServer | undefined,
  file: string,
  args: string[],
  expectStatus: number,
  input?: string,
) {
  const r = await cli(["vrp", "send", file, "--json", "--target", server?.target ?? NOWHERE, ...args], { input });
  assert.is(r.status, expectStatus, `exit ${r.status}\n${r.stdout}\n${r.stderr}`);
  assert.is(r.stderr, "", "nothing on stderr: no progress line off a terminal, no error");
  return JSON.parse(r.stdout);
}

const running = new Set<TestServer>();
async function serve(overrides: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const server = await startTestServer(overrides);
  running.add(server);
  return server;
}
async function stop(server: TestServer): Promise<void> {
  running.delete(server);
  await server.shutdown(1000);
}
// A failed assertion must not leave a collector running (the test process would not end).
test.after.each(async () => {
  for (const server of running) await stop(server);
});

function writeLines(lines: readonly string[]): string {
  const file = path.join(tempDir("vrp-send-"), "events.jsonl");
  writeFileSync(file, lines.map((l) => `${l}\n`).join(""));
  return file;
}

/** The producer events in a collector's log (read with the archive reader, after shutdown), and the derived ones. */
async function logOf(dataDir: string) {
  const received: { event: VrpEventJson; producerId?: string; producerSequence?: bigint }[] = [];
  const derived: VrpEventJson[] = [];
  for await (const e of readArchive(dataDir)) {
    if (e.type !== "VrpEvent") continue;
    if (e.log?.kind === "vrp_derived") derived.push(e.json as VrpEventJson);
    else
      received.push({
        event: e.json as VrpEventJson,
        producerId: e.log?.producerId,
        producerSequence: e.log?.producerSequence,
      });
  }
  return { received, derived };
}

/** Derived events counted as the summary counts them: event type -> reason code -> n. */
function countByReason(events: readonly VrpEventJson[]): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const e of events) {
    const byReason = (out[e.event_type] ??= {});
    byReason[e.reason_code ?? "(none)"] = (byReason[e.reason_code ?? "(none)"] ?? 0) + 1;
  }
  return out;
}

const T = 1_767_225_600_000;
/** A flat-payload producer: payload at the top level, active_path, previous_state/new_state, `event`. */
const FLAT_LINES = [
  `{"ts_ms":${T},"event":"SESSION_CREATED","session_id":"flat-1","node":"edge-7"}`, // 1: event 1
  ``, // 2: blank
  `{"ts_ms":${T + 50},"event":"PATH_SELECTED","session_id":"flat-1","active_path":"udp/443","rtt_ms":18}`, // 3: event 2
  `{"ts_ms":+8,"event":"VOLATILITY_SIGNAL","session_id":"flat-1"}`, // 4: event 3, not JSON
  `{"ts_ms":${T + 1000},"event":"HEARTBEAT","session_id":"flat-1","beat":1}`, // 5: event 4, an unknown type
  `   `, // 6: blank
  `{"ts_ms":${T + 2000},"event":"VOLATILITY_SIGNAL","session_id":"flat-1","loss_pct":4.5}`, // 7: event 5
  `{"ts_ms":${T + 3000},"event":"PATH_SELECTED","session_id":"flat-1","active_path":"tcp/443","replaces":"udp/443"}`, // 8: event 6
  `{"ts_ms":${T + 4000},"event":"MUTATION_TICK","session_id":"flat-1","active_path":"tcp/443","details":"tick"}`, // 9: event 7, details not an object
  `{"ts_ms":${T + 5000},"event":"STATE_CHANGE","session_id":"flat-1","previous_state":"ATTACHED","new_state":"TERMINATED","reason_code":"USER_EXIT"}`, // 10: event 8
];

test("a flat-payload producer through --map: counts, refusals by line, derived answers by reason code; a re-run sends nothing twice", async () => {
  const server = await serve();
  const file = writeLines(FLAT_LINES);
  const first = await send(server, file, ["--map", FLAT_MAP, "--producer-id", "edge-7"], 3);
  assert.is(first.lines, 10);
  assert.is(first.events, 8);
  assert.is(first.accepted, 6);
  assert.is(first.refused, 2);
  assert.is(first.already_judged, 0);
  assert.is(first.collector_last_producer_sequence, 0);
  assert.equal(first.skipped, { blank: 2, prefix: 0 });
  assert.equal(
    first.refusals.map((r: { line: number; event: number; by: string; issues: { path: string; rule: string }[] }) => [
      r.line,
      r.event,
      r.by,
      r.issues.map((i) => `${i.path} ${i.rule}`),
    ]),
    [
      [4, 3, "sender", ["/ts_ms json"]],
      [9, 7, "sender", ["/details type"]],
    ],
  );
  assert.match(
    first.refusals[0].reason,
    /\/ts_ms: is not valid JSON at column 10: a number cannot start with "\+" \[json\]/,
  );
  assert.equal(first.moved_to_details, { node: 1, rtt_ms: 1, beat: 1, loss_pct: 1, replaces: 1 });
  assert.is(first.derived.STATE_CHANGE.SESSION_BORN, 1);
  assert.is(first.derived.STATE_CHANGE.PATH_BOUND, 1);
  assert.is(first.derived.STATE_CHANGE.TERMINATED, 1);

  // The same file again: the handshake says 8 were judged; nothing is sent.
  const again = await send(server, file, ["--map", FLAT_MAP, "--producer-id", "edge-7"], 3);
  assert.is(again.collector_last_producer_sequence, 8);
  assert.is(again.accepted, 0);
  assert.is(again.already_judged, 6);
  assert.equal(
    again.refusals.map((r: { line: number; earlier_run?: boolean }) => [r.line, r.earlier_run]),
    [
      [4, true],
      [9, true],
    ],
    "the refused lines are still reported (they are not stored), as judged earlier",
  );
  assert.equal(again.derived, {});
  await stop(server);

  const log = await logOf(server.dataDir);
  const mine = log.received.filter((r) => r.producerId === "edge-7");
  assert.equal(
    mine.map((r) => [Number(r.producerSequence), r.event.event_type]),
    [
      [1, "SESSION_CREATED"],
      [2, "PATH_SELECTED"],
      [4, "HEARTBEAT"],
      [5, "VOLATILITY_SIGNAL"],
      [6, "PATH_SELECTED"],
      [8, "STATE_CHANGE"],
    ],
    "each event once, under its file number; 3 and 7 were consumed by their refusals",
  );
  assert.equal(mine[1]!.event.details, { transport_id: "udp/443", rtt_ms: 18 });
  assert.equal(mine[4]!.event.details, { transport_id: "tcp/443", replaces: "udp/443" });
  assert.equal(mine[5]!.event.details, { from_state: "ATTACHED", to_state: "TERMINATED" });
  assert.equal(countByReason(log.derived), first.derived, "the summary counted every derived answer the log holds");
});

test("the resulting states: a flat producer's declared ATTACHED is taken; the same transport id on two nodes binds two sessions", async () => {
  const server = await serve();
  const file = writeLines([
    `{"ts_ms":${T},"event":"SESSION_CREATED","session_id":"flat-2","node_id":"edge-1"}`,
    `{"ts_ms":${T + 10},"event":"STATE_CHANGE","session_id":"flat-2","node_id":"edge-1","previous_state":"BIRTH","new_state":"ATTACHED"}`,
    `{"ts_ms":${T + 20},"event":"SESSION_CREATED","session_id":"flat-3","node_id":"edge-2"}`,
    `{"ts_ms":${T + 30},"event":"PATH_SELECTED","session_id":"flat-3","node_id":"edge-2","active_path":"udp/443"}`,
    `{"ts_ms":${T + 40},"event":"PATH_SELECTED","session_id":"flat-2","node_id":"edge-1","active_path":"udp/443"}`,
    `{"ts_ms":${T + 50},"event":"STATE_CHANGE","session_id":"flat-3","node_id":"edge-2","previous_state":"ATTACHED","new_state":"RECOVERING"}`,
  ]);
  const summary = await send(server, file, ["--map", FLAT_MAP, "--producer-id", "edge-states"], 0);
  assert.is(summary.accepted, 6);
  assert.equal(summary.derived, {
    STATE_CHANGE: { SESSION_BORN: 2, PATH_BOUND: 2, PATH_SWITCHED: 1 },
    AUDIT_EVENT: { DECLARED_TRANSITION_NOT_ALLOWED: 1 },
  });
  const flat2 = server.vrp.machine.session("flat-2")!;
  const flat3 = server.vrp.machine.session("flat-3")!;
  assert.equal([flat2.state, flat2.activeTransport, flat2.activeNode], ["ATTACHED", "udp/443", "edge-1"]);
  assert.equal(
    [flat3.state, flat3.activeTransport, flat3.activeNode],
    ["ATTACHED", "udp/443", "edge-2"],
    "RECOVERING has no row from ATTACHED: the state stays",
  );
  await stop(server);
});

test("an event-lowercase producer (YAML map) from standard input: comments skipped, lower_snake codes upper-cased, exit 0", async () => {
  const server = await serve();
  const input = [
    "# edge-9, one session",
    `{"ts_ms":${T},"event":"session_created","session_id":"low-1"}`,
    `{"ts_ms":${T + 40},"event":"path_selected","session_id":"low-1","details":{"transport_id":"quic/1"}}`,
    "",
    `{"ts_ms":${T + 90},"event":"heartbeat","session_id":"low-1"}`,
    `{"ts_ms":${T + 900},"event":"state_change","session_id":"low-1","reason_code":"user_exit","details":{"to_state":"terminated"}}`,
  ].join("\n");
  const summary = await send(server, "-", ["--map", LOWER_MAP, "--producer-id", "edge-9"], 0, input);
  assert.is(summary.input, "-");
  assert.is(summary.events, 4);
  assert.is(summary.accepted, 4);
  assert.is(summary.refused, 0);
  assert.equal(summary.skipped, { blank: 1, prefix: 1 });
  assert.is(summary.derived.STATE_CHANGE.TERMINATED, 1);
  // Text mode, same input, same producer: nothing new, a readable summary.
  const text = await cli(
    ["vrp", "send", "-", "--map", LOWER_MAP, "--producer-id", "edge-9", "--target", server.target],
    { input },
  );
  assert.is(text.status, 0, text.stderr);
  assert.match(
    text.stdout,
    /^vrp send: standard input -> 127\.0\.0\.1:\d+ as producer edge-9 \(map .*event-lowercase\.yaml\)\n/,
  );
  assert.match(text.stdout, /\n {2}accepted {10}0\n/);
  assert.match(text.stdout, /\n {2}already judged {4}4 \(by the collector, in an earlier run/);
  assert.match(text.stdout, /\n {2}skipped lines {5}2 \(1 blank, 1 by skip_lines_starting_with\)\n/);
  await stop(server);
  const stored = (await logOf(server.dataDir)).received.map((r) => [r.event.event_type, r.event.reason_code ?? null]);
  assert.equal(stored, [
    ["SESSION_CREATED", null],
    ["PATH_SELECTED", null],
    ["HEARTBEAT", null],
    ["STATE_CHANGE", "USER_EXIT"],
  ]);
});

test("--lenient moves unknown top-level keys under details and lists them; without it they are refused, pointing to details", async () => {
  const server = await serve();
  const file = writeLines([
    `{"ts_ms":${T},"event_type":"SESSION_CREATED","session_id":"len-1","region":"eu"}`,
    `{"ts_ms":${T + 10},"event_type":"PATH_SELECTED","session_id":"len-1","region":"eu","details":{"transport_id":"udp/1"},"rtt_ms":7}`,
    `{"ts_ms":${T + 20},"event_type":"MUTATION_TICK","session_id":"len-1"}`,
  ]);
  const strict = await cli(["vrp", "send", file, "--producer-id", "len-a", "--target", server.target]);
  assert.is(strict.status, 3, strict.stderr);
  assert.match(
    strict.stdout,
    /line 1 \(event 1\): \/region: is not a field of this contract \(free-form data belongs under details\) \[additionalProperties\]/,
  );
  assert.match(
    strict.stdout,
    /line 2 \(event 2\): \/region: .*\[additionalProperties\]; \/rtt_ms: .*\[additionalProperties\]/,
  );
  assert.match(strict.stdout, /\n {2}accepted {10}1\n/);
  assert.match(strict.stdout, /hint: --lenient/);

  // --lenient for the same producer id: the refused numbers were consumed, so nothing is sent twice or shifted.
  const sameId = await send(server, file, ["--lenient", "--producer-id", "len-a"], 0);
  assert.is(sameId.accepted, 0);
  assert.is(sameId.already_judged, 3, "lines 1-3 were judged under numbers 1-3 already (two of them refused then)");
  assert.is(sameId.refused, 0, "valid now: what the collector made of them then, only that run could tell");
  // A new producer id: all three go in, the moved keys listed per key.
  const lenient = await send(server, file, ["--lenient", "--producer-id", "len-b"], 0);
  assert.is(lenient.accepted, 3);
  assert.equal(lenient.moved_to_details, { region: 2, rtt_ms: 1 });
  const text = await cli(["vrp", "send", file, "--lenient", "--dry-run"]);
  assert.is(text.status, 0, text.stderr);
  assert.match(text.stdout, /moved to details \(--lenient\) region \(2 lines\), rtt_ms \(1 line\)/);
  await stop(server);
  const stored = (await logOf(server.dataDir)).received.map(
    (r) => `${r.producerId}#${r.producerSequence} ${r.event.event_type} ${JSON.stringify(r.event.details ?? {})}`,
  );
  assert.equal(stored, [
    "len-a#3 MUTATION_TICK {}",
    'len-b#1 SESSION_CREATED {"region":"eu"}',
    'len-b#2 PATH_SELECTED {"transport_id":"udp/1","region":"eu","rtt_ms":7}',
    "len-b#3 MUTATION_TICK {}",
  ]);
});

test("an interrupted file resumes after the last event judged; a producer id that judged more than the file holds is an error", async () => {
  const server = await serve();
  const lines = Array.from({ length: 12 }, (_, i) =>
    i === 0
      ? `{"ts_ms":${T},"event_type":"SESSION_CREATED","session_id":"res-1"}`
      : `{"ts_ms":${T + i},"event_type":"MUTATION_TICK","session_id":"res-1","details":{"n":${i}}}`,
  );
  const file = writeLines(lines.slice(0, 5)); // the producer had written five lines when the first run went
  const first = await send(server, file, ["--producer-id", "res"], 0);
  assert.is(first.accepted, 5);
  appendFileSync(file, `\n${lines.slice(5).join("\n")}\n`); // it wrote on (a blank line between: no number)
  const second = await send(server, file, ["--producer-id", "res"], 0);
  assert.is(second.collector_last_producer_sequence, 5);
  assert.is(second.already_judged, 5);
  assert.is(second.accepted, 7);
  assert.is(second.events, 12);

  const short = writeLines(lines.slice(0, 3));
  const r = await cli(["vrp", "send", short, "--producer-id", "res", "--target", server.target]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /the collector has judged 12 events from producer "res", but .* holds only 3/);
  assert.match(r.stdout, /already judged {4}3/, "the summary is printed before the error");
  await stop(server);
  const stored = (await logOf(server.dataDir)).received;
  assert.equal(
    stored.map((s) => Number(s.producerSequence)),
    Array.from({ length: 12 }, (_, i) => i + 1),
    "every event once, in file order",
  );
  assert.equal(
    stored.map((s) => s.event.details?.n ?? 0),
    Array.from({ length: 12 }, (_, i) => i),
  );
});

test("--dry-run checks against the contract without a collector", async () => {
  const file = writeLines(FLAT_LINES);
  const dry = await send(undefined, file, ["--map", FLAT_MAP, "--dry-run"], 3);
  assert.is(dry.dry_run, true);
  assert.is(dry.valid, 6);
  assert.is(dry.refused, 2);
  assert.equal(
    dry.refusals.map((r: { line: number }) => r.line),
    [4, 9],
  );
  assert.is(dry.accepted, undefined);
  assert.is(dry.derived, undefined);
  const clean = writeLines(FLAT_LINES.filter((_, i) => i !== 3 && i !== 8));
  const ok = await cli(["vrp", "send", clean, "--map", FLAT_MAP, "--dry-run", "--target", NOWHERE]);
  assert.is(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /^vrp send --dry-run: .*: nothing sent\n/);
  assert.match(ok.stdout, /\n {2}valid {13}6\n/);
  const unmapped = await send(undefined, file, ["--dry-run"], 3);
  assert.is(unmapped.valid, 0, "without the map, no flat line is an envelope");
  const binary = path.join(tempDir("vrp-send-"), "bytes.jsonl");
  writeFileSync(
    binary,
    Buffer.concat([
      Buffer.from(`${FLAT_LINES[0]}\n`),
      Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a]),
      Buffer.from(`${FLAT_LINES[2]}\n`),
    ]),
  );
  const bytes = await send(undefined, binary, ["--dry-run", "--map", FLAT_MAP], 3);
  assert.equal(
    bytes.refusals.map((r: { line: number; event: number; reason: string }) => [r.line, r.event, r.reason]),
    [[2, 2, "/: not UTF-8 text [utf8]"]],
  );
  assert.is(bytes.valid, 2);
});

test("errors exit 1: the collector unreachable, a wrong token, a missing file", async () => {
  const file = writeLines(FLAT_LINES.slice(0, 1));
  let r = await cli(["vrp", "send", file, "--producer-id", "p", "--target", NOWHERE, "--deadline-ms", "300"]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /no stream to the collector at 127\.0\.0\.1:1: no answer within 300 ms \(--deadline-ms\)/);
  assert.is(r.stdout, "");
  const guarded = await serve({ token: "vrp-send-token" });
  r = await cli(["vrp", "send", file, "--producer-id", "p", "--target", guarded.target, "--token", "wrong-token"]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /no stream to the collector at .*UNAUTHENTICATED/);
  r = await cli(["vrp", "send", file, "--map", FLAT_MAP, "--producer-id", "p", "--target", guarded.target], {
    env: { SESSION_EVENTS_TOKEN: "vrp-send-token" },
  });
  assert.is(r.status, 0, r.stderr);
  await stop(guarded);
  r = await cli(["vrp", "send", path.join(tempDir(), "missing.jsonl"), "--producer-id", "p", "--target", NOWHERE]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /missing\.jsonl: no such file or directory/);
});

test("usage mistakes exit 2, naming the flag (and a bad map's field and rule)", async () => {
  const file = writeLines(FLAT_LINES.slice(0, 1));
  const dir = tempDir("vrp-send-maps-");
  const badMap = path.join(dir, "bad.yaml");
  writeFileSync(badMap, "rename:\n  event: evt\nunknown_keys: drop\n");
  const cases: [string[], RegExp][] = [
    [["vrp", "send", file], /--producer-id: is required/],
    [["vrp", "send", file, "--producer-id", ""], /--producer-id: must not be empty/],
    [
      ["vrp", "send", file, "--dry-run", "--map", badMap],
      /--map: dialect map .*bad\.yaml is invalid \(2 problems\):\n {2}\/rename\/event: must be an envelope field .*\[pattern\]\n {2}\/unknown_keys: must be one of refuse, details \(got "drop"\) \[enum\]/,
    ],
    [
      ["vrp", "send", file, "--dry-run", "--map", path.join(dir, "none.json")],
      /--map: cannot read ".*none\.json" \(ENOENT\)/,
    ],
    [["vrp", "send", file, file, "--dry-run"], /expected one FILE/],
    [["vrp", "send", file, "--dry-run", "--follow"], /--follow/],
    [["vrp", "send", file, "--producer-id", "p", "--deadline-ms", "soon"], /--deadline-ms: must be a positive integer/],
  ];
  for (const [args, message] of cases) {
    const r = await cli(args);
    assert.is(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.match(r.stderr, /\nsee 'session-events vrp send --help'\n$/);
  }
  const help = await cli(["vrp", "send", "--help"]);
  assert.is(help.status, 0);
  assert.match(help.stdout, /--producer-id ID/);
  const overview = await cli(["--help"]);
  assert.match(overview.stdout, /session-events vrp send \[FILE\|-\]/);
});

test("a progress line is drawn on a terminal only", async () => {
  const file = writeLines(FLAT_LINES);
  const capture = (isTTY: boolean) => {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk.toString());
        done();
      },
    });
    Object.assign(stream, { isTTY });
    return { stream: stream as never, text: () => chunks.join("") };
  };
  const tty = capture(true);
  const out = capture(false);
  assert.is(await main(["vrp", "send", file, "--map", FLAT_MAP, "--dry-run"], out.stream, tty.stream), 3);
  assert.match(tty.text(), /\rvrp send --dry-run .*events/);
  assert.ok(tty.text().endsWith("\r\x1b[K"), "cleared before the summary");
  assert.not.match(out.text(), /\r/);
  const quiet = capture(true);
  await main(
    ["vrp", "send", file, "--map", FLAT_MAP, "--dry-run", "--no-progress"],
    capture(false).stream,
    quiet.stream,
  );
  assert.is(quiet.text(), "");
});

test("VrpProducer: handshake() tells the last number judged; withhold() consumes one, and a resend of it stays refused", async () => {
  const server = await serve();
  const event = (n: number): VrpEventJson => ({ ts_ms: T + n, event_type: "MUTATION_TICK", session_id: "lib-1" });
  const a = new VrpProducer({ target: server.target, producerId: "lib" });
  assert.is(await a.handshake(), 0n);
  assert.is((await a.send(event(1))).producerSequence, 1n);
  assert.is(await a.withhold(), 2n);
  const third = await a.send(event(3));
  assert.is(third.producerSequence, 3n);
  await a.close();
  const b = new VrpProducer({ target: server.target, producerId: "lib" });
  assert.is(await b.handshake(), 3n, "a restarted producer learns where it stands before sending");
  assert.is((await b.send(event(4))).producerSequence, 4n);
  await b.close();

  // The withheld number is judged for good: a resend with a real event is refused again.
  const client = new VrpStreamServiceClient(server.target, credentials.createInsecure());
  const call = client.streamEvents();
  const answers: StreamEventsResponse[] = [];
  const done = new Promise<void>((resolve, reject) => {
    call.on("data", (r: StreamEventsResponse) => answers.push(r));
    call.on("end", resolve);
    call.on("error", reject);
  });
  call.write(
    StreamEventsRequest.fromPartial({
      event: bridges.VrpEvent.fromJson(event(2)),
      producerId: "lib",
      producerSequence: 2n,
    }),
  );
  call.end();
  await done;
  client.close();
  assert.is(answers.length, 1);
  const answer = answers[0]!.kind;
  assert.is(answer?.$case, "rejection");
  assert.match((answer as { value: { reason: string } }).value.reason, /\[refused_earlier\]/);

  // An event that fails the contract never takes a number: it is a ValidationError, not a rejection.
  const c = new VrpProducer({ target: server.target, producerId: "lib" });
  try {
    await c.send({ ...event(0), ts_ms: -1 });
    assert.unreachable();
  } catch (e) {
    assert.not.instance(e, VrpRejectedError);
    assert.match((e as Error).message, /\/ts_ms: .*\[minimum\]/);
  }
  assert.is((await c.send(event(5))).producerSequence, 5n);
  await c.close();
  await stop(server);
});

test("the documented vrp send commands (docs/vrp-streams.md) run as written", async () => {
  const doc = readFileSync(path.join(repoRoot, "docs/vrp-streams.md"), "utf8");
  const section = doc.slice(doc.indexOf("## Sending JSON Lines: vrp send"));
  const commands = [...section.matchAll(/^npx session-events (vrp send [^#\n]*?)\s*(?:#.*)?$/gm)].map((m) =>
    m[1]!.split(/\s+/),
  );
  assert.ok(commands.length >= 3, `${commands.length} commands`);
  const server = await serve();
  const statuses: number[] = [];
  for (const args of commands) {
    const child = spawn(process.execPath, [cliBin, ...args], {
      cwd: repoRoot,
      env: { ...process.env, SESSION_EVENTS_TARGET: server.target },
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d));
    child.stderr.on("data", (d: Buffer) => (output += d));
    const status = await new Promise<number | null>((resolve) => child.on("close", resolve));
    assert.is(status, 0, `${args.join(" ")}\n${output}`);
    statuses.push(status!);
  }
  await stop(server);
  const stored = (await logOf(server.dataDir)).received;
  assert.is(
    stored.length,
    readFileSync(path.join(repoRoot, "docs/vrp-dialects/flat-payload.sample.jsonl"), "utf8")
      .split("\n")
      .filter((l) => l.trim()).length,
    "sent once, however often the command ran",
  );
});

test.run();
