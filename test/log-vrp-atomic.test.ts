/**
 * A crash at every write boundary of a VRP stream (DESIGN.md, storage rules 3
 * and 4): a real collector stores producer events with what they caused as
 * atomic groups; the log is then cut at every frame boundary and at every
 * byte of the last batch, reopened and replayed. No event may survive
 * without its outcomes, no outcome without its event, and the rebuilt state
 * machine must be the one that applied exactly the surviving events.
 */
import { readFileSync, rmSync, truncateSync, mkdirSync } from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bridges } from "../src/bridge/index.js";
import { Collector } from "../src/collector/collector.js";
import { openDerived } from "./support/derived-state.js";
import type { VrpEventJson } from "../src/contract/types.js";
import { VrpProducer } from "../src/client/vrp.js";
import { SegmentLog, type DamageReport } from "../src/store/segment-log.js";
import { VrpHub } from "../src/collector/vrp-hub.js";
import { VrpStateMachine } from "../src/vrp/machine.js";
import type { VrpPolicy } from "../src/vrp/audits.js";
import { LogEntry } from "../gen/sessionevents/log/v1/log_entry.js";
import { StreamEventsRequest, type StreamEventsResponse } from "../gen/vrp/v1alpha1/vrp_service.js";
import { startTestServer } from "./support/collector.js";
import { tempDir } from "./support/repo.js";
import {
  copyDataDir,
  parseSegment,
  readAll,
  scratchDir,
  segmentPaths,
  SEGMENT_HEADER,
  type ParsedFrame,
} from "./support/segments.js";
import { rawStream, summarize } from "./support/vrp-stream.js";

const POLICY: VrpPolicy = { maxSwitchesPerMinute: 1, maxRecoveryWindowMs: 5000 };
const PRODUCER = "edge-atomic";

let clock = 1_760_000_000_000;
const ev = (event_type: string, session_id: string, details?: Record<string, unknown>, dt = 1000): VrpEventJson => ({
  ts_ms: (clock += dt),
  event_type,
  session_id,
  ...(details ? { details: details as VrpEventJson["details"] } : {}),
});

interface Cause {
  readonly sequence: bigint;
  readonly event: VrpEventJson;
  readonly producerSequence: bigint;
  /** Sequences of the outcomes stored with it. */
  readonly derived: bigint[];
}

interface Original {
  readonly dir: string;
  readonly file: string;
  readonly bytes: Buffer;
  readonly frames: ParsedFrame[];
  readonly entries: Map<bigint, LogEntry>;
  readonly causes: Cause[];
  /** The last producer event, sent alone: its group is the last batch written. */
  readonly last: VrpEventJson;
}

/** Run a real collector, stream events that cause outcomes of every kind, stop it, and read what it wrote. */
async function record(): Promise<Original> {
  const server = await startTestServer(POLICY);
  const a = "atomic-a";
  const b = "atomic-b";
  const pipelined = [
    ev("SESSION_CREATED", a), // STATE_CHANGE SESSION_BORN
    ev("PATH_SELECTED", a, { transport_id: "t1" }), // PATH_BOUND
    ev("SESSION_CREATED", b),
    ev("PATH_SELECTED", b, { transport_id: "t9" }),
    ev("RECOVERY_SIGNAL", b), // TRANSITION_NOT_ALLOWED (an invalid transition)
    ev("PATH_SELECTED", a, { transport_id: "t2", replaces: "t1" }, 1), // PATH_SWITCHED
    ev("PATH_SELECTED", a, { transport_id: "t3", replaces: "t2" }, 1), // SWITCH_RATE_EXCEEDED (policy: 1 a minute)
    ev("VOLATILITY_SIGNAL", a), // VOLATILE: the recovery window opens
    ev("VOLATILITY_SIGNAL", a), // DEGRADED
    ev("RECOVERY_SIGNAL", a), // RECOVERING
    ev("MUTATION_TICK", a), // an observation: a group of one
    ev("PATH_SELECTED", b, { transport_id: "t2" }), // SESSION_ID_CHANGED_ON_REATTACH (t2 is a's)
    ev("VOLATILITY_SIGNAL", b), // VOLATILE
  ];
  // Sent alone, once everything before is acknowledged: RECOVERY_WINDOW_EXCEEDED and RECOVERED, a group of three.
  const last = ev("RECOVERY_SIGNAL", a, undefined, 6000);
  const producer = new VrpProducer({ target: server.target, producerId: PRODUCER });
  try {
    await Promise.all(pipelined.map((e) => producer.send(e)));
    await producer.send(last);
  } finally {
    await producer.close();
    await server.shutdown(1000);
  }

  const [file, ...more] = segmentPaths(server.dataDir);
  assert.is(more.length, 0, "one segment");
  const bytes = readFileSync(file!);
  const frames = parseSegment(bytes);
  const entries = new Map(frames.map((f) => [f.sequence, LogEntry.decode(f.payload)]));
  const causes: Cause[] = [];
  for (const [sequence, entry] of entries) {
    if (entry.entry?.$case === "vrpReceived") {
      causes.push({
        sequence,
        event: bridges.VrpEvent.toJson(entry.entry.value.event!),
        producerSequence: entry.entry.value.producerSequence,
        derived: [],
      });
    } else if (entry.entry?.$case === "vrpDerived") {
      const causeSequence = entry.entry.value.causeSequence;
      const cause = causes.find((c) => c.sequence === causeSequence);
      assert.ok(cause, `derived ${sequence} follows its cause`);
      cause!.derived.push(sequence);
    }
  }
  // The fixture is what it claims: every event stored, outcomes of each kind, the last group of three frames.
  assert.is(causes.length, pipelined.length + 1);
  const reasons = [...entries.values()].flatMap((e) =>
    e.entry?.$case === "vrpDerived" ? [e.entry.value.event!.reasonCode] : [],
  );
  for (const r of [
    "SESSION_BORN",
    "PATH_BOUND",
    "PATH_SWITCHED",
    "TRANSITION_NOT_ALLOWED",
    "SWITCH_RATE_EXCEEDED",
    "INSTABILITY_DETECTED",
    "SESSION_ID_CHANGED_ON_REATTACH",
    "RECOVERY_WINDOW_EXCEEDED",
    "RECOVERED",
  ]) {
    assert.ok(reasons.includes(r), `the stream caused ${r}`);
  }
  assert.equal(causes.at(-1)!.derived.length, 2);
  assert.equal(
    frames.slice(-3).map((f) => f.continues),
    [true, true, false],
  );
  assert.is(causes.find((c) => c.event.event_type === "MUTATION_TICK")!.derived.length, 0);
  return { dir: server.dataDir, file: file!, bytes, frames, entries, causes, last };
}

const original = await record();

/** The outcome stored at `sequence`, as contract JSON. */
function derivedJson(sequence: bigint): VrpEventJson {
  const entry = original.entries.get(sequence)!.entry;
  if (entry?.$case !== "vrpDerived") throw new Error(`record ${sequence} is not a vrpDerived`);
  return bridges.VrpEvent.toJson(entry.value.event!);
}

/** A copy of the original data directory, its segment cut at `cut` (the image a crash there leaves). */
function crashImage(dir: string, cut: number): void {
  copyDataDir(original.dir, dir);
  truncateSync(path.join(dir, path.basename(original.file)), cut);
}

test("a crash at every frame boundary and every byte of the last batch: never an event without its outcomes, never an outcome without its event; replay rebuilds exactly the surviving events' state", async () => {
  const lastGroupStart = original.frames.at(-3)!.offset;
  const cuts = new Set<number>([0, SEGMENT_HEADER, ...original.frames.map((f) => f.offset + f.size)]);
  const boundaries = cuts.size;
  for (let cut = lastGroupStart; cut <= original.bytes.length; cut++) cuts.add(cut);
  const work = scratchDir("vrp-atomic-");
  const failures: string[] = [];
  const survivorsSeen = new Set<number>();
  for (const cut of [...cuts].sort((x, y) => x - y)) {
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work);
    crashImage(work, cut);
    const where = `cut at ${cut}`;
    const damage: DamageReport[] = [];
    const log = await SegmentLog.open({ dir: work, onDamage: (d) => damage.push(d) });
    // Rebuilt as the server does, but with the default policy: replay restores stored outcomes, whatever the policy now.
    const state = await openDerived(log, work);
    const collector = new Collector(log, state);
    const hub = new VrpHub(log, state);
    const records = await readAll(log);
    const rebuilt = hub.machine.snapshot();
    const lastProducerSequence = hub.lastProducerSequence(PRODUCER);
    void collector;
    await log.close();

    // The survivors are a prefix of what was written, byte for byte.
    const originalPrefix = original.frames.slice(0, records.length);
    if (
      !records.every(
        (r, i) => r.sequence === originalPrefix[i]!.sequence && r.payload.equals(originalPrefix[i]!.payload),
      )
    )
      failures.push(`${where}: the survivors are not a prefix of the log`);
    const present = new Set(records.map((r) => r.sequence));
    const surviving = original.causes.filter((c) => present.has(c.sequence));
    survivorsSeen.add(surviving.length);
    for (const c of surviving) {
      const missing = c.derived.filter((d) => !present.has(d));
      if (missing.length > 0)
        failures.push(
          `${where}: vrpReceived ${c.sequence} (${c.event.event_type}) survived without its vrpDerived ${missing.join(",")}`,
        );
    }
    for (const r of records) {
      const entry = original.entries.get(r.sequence)!;
      if (entry.entry?.$case === "vrpDerived" && !present.has(entry.entry.value.causeSequence))
        failures.push(
          `${where}: vrpDerived ${r.sequence} survived without its cause ${entry.entry.value.causeSequence}`,
        );
    }
    // The reference: a machine with the policy that decided, applying exactly the surviving causes.
    const reference = new VrpStateMachine(POLICY);
    for (const c of surviving) {
      const decided = reference.apply(c.event, Number(c.sequence));
      const stored = c.derived.map(derivedJson);
      if (JSON.stringify(decided) !== JSON.stringify(stored))
        failures.push(`${where}: the reference decided other outcomes for ${c.sequence} than were stored`);
    }
    if (JSON.stringify(rebuilt) !== JSON.stringify(reference.snapshot())) {
      failures.push(
        `${where}: rebuilt ${JSON.stringify(rebuilt)} != reference ${JSON.stringify(reference.snapshot())}`,
      );
    }
    const lastJudged = surviving.at(-1)?.producerSequence ?? 0n;
    if (lastProducerSequence !== lastJudged)
      failures.push(`${where}: the producer's numbering stands at ${lastProducerSequence}, expected ${lastJudged}`);
    // Nothing but a crash tail was cut, and only where a cut was not at a group end.
    if (damage.some((d) => !/cut short|without its last frame|torn|zero fill/.test(d.reason)))
      failures.push(`${where}: unexpected damage ${JSON.stringify(damage)}`);
  }
  rmSync(work, { recursive: true, force: true });
  console.log(
    `  crash images: ${cuts.size} (${boundaries} frame boundaries + every byte of the last batch); surviving producer events seen: ${[...survivorsSeen].sort((x, y) => x - y).join(",")} of ${original.causes.length}`,
  );
  assert.equal(failures.slice(0, 20), [], `${failures.length} failures`);
  assert.is(survivorsSeen.size, original.causes.length + 1, "every number of surviving events, 0 to all, was seen");
});

/** Restart a real collector on a crash image and resend the last event under its producer number. */
async function resendAfterCrash(cut: number): Promise<{ answers: string[]; entries: LogEntry[] }> {
  const dir = tempDir("vrp-resend-");
  crashImage(dir, cut);
  const server = await startTestServer(POLICY, dir);
  const lastCause = original.causes.at(-1)!;
  let answers: StreamEventsResponse[];
  try {
    answers = await rawStream(server.target, [
      StreamEventsRequest.fromPartial({
        event: bridges.VrpEvent.fromJson(original.last),
        producerId: PRODUCER,
        producerSequence: lastCause.producerSequence,
      }),
    ]);
  } finally {
    await server.shutdown(1000);
  }
  const log = await SegmentLog.open({ dir, readOnly: true });
  const entries = (await readAll(log)).map((r) => LogEntry.decode(r.payload));
  await log.close();
  return { answers: summarize(answers), entries };
}

/** What matters of a log entry (its receive time is the clock's, not the event's). */
const essence = (e: LogEntry) =>
  JSON.stringify({ ...e, receivedAt: undefined }, (_key, value: unknown) =>
    typeof value === "bigint" ? value.toString() : value,
  );

test("the case from the issue: a producer resend after a crash inside its group is stored again with its outcomes, not acknowledged as a duplicate with nothing derived", async () => {
  const lastCause = original.causes.at(-1)!;
  const received = original.frames.find((f) => f.sequence === lastCause.sequence)!;
  const firstDerived = original.frames.find((f) => f.sequence === lastCause.derived[0])!;
  const originalEntries = original.frames.map((f) => essence(original.entries.get(f.sequence)!));
  // Cut after the event's own frame, after its first outcome, and inside its last frame.
  for (const cut of [
    received.offset + received.size,
    firstDerived.offset + firstDerived.size,
    original.bytes.length - 1,
  ]) {
    const { answers, entries } = await resendAfterCrash(cut);
    assert.equal(
      answers,
      ["audit RECOVERY_WINDOW_EXCEEDED", "stateChange RECOVERED", `ack 1 seq ${lastCause.sequence}`],
      `cut at ${cut}`,
    );
    assert.equal(
      entries.map(essence),
      originalEntries,
      `cut at ${cut}: the log holds the event and its outcomes again, as first written`,
    );
  }
  // The whole group survived: the resend is a duplicate, acknowledged where it is stored, and nothing is stored twice.
  const { answers, entries } = await resendAfterCrash(original.bytes.length);
  assert.equal(answers, [`ack 0 seq ${lastCause.sequence}`]);
  assert.equal(entries.map(essence), originalEntries);
});

test.run();
