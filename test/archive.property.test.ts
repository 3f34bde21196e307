/**
 * Property: for generated events of every type and every log entry kind,
 * export -> import -> export gives the same lines, in both line layouts, and
 * the exported lines are exactly the bridge's contract JSON of each event.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { exportArchive, importArchive } from "../src/archive/index.js";
import { bridges } from "../src/bridge/index.js";
import * as arb from "./support/arbitraries.js";
import { logEntryBytes, writeSegmentFile, type LoggedEvent } from "./support/archive-log.js";
import { tempDir } from "./support/repo.js";

const RUNS = { numRuns: 60 };
const sequence = fc.bigInt({ min: 1n, max: BigInt(Number.MAX_SAFE_INTEGER) });
const receivedAt = fc.option(arb.canonicalTimestamp, { nil: undefined });

const loggedEvent: fc.Arbitrary<LoggedEvent> = fc.oneof(
  fc.record(
    {
      kind: fc.constant("session_started" as const),
      json: arb.sessionStartJson,
      sessionId: arb.text({ maxLength: 40 }),
      receivedAt,
    },
    { requiredKeys: ["kind", "json", "sessionId"] },
  ),
  fc.record(
    { kind: fc.constant("session_ended" as const), json: arb.sessionEndJson, receivedAt },
    { requiredKeys: ["kind", "json"] },
  ),
  fc.record(
    {
      kind: fc.constant("vrp_received" as const),
      json: arb.vrpJson,
      producerId: arb.text({ maxLength: 20 }),
      producerSequence: sequence,
      receivedAt,
    },
    { requiredKeys: ["kind", "json"] },
  ),
  fc.record(
    { kind: fc.constant("vrp_derived" as const), json: arb.vrpJson, causeSequence: sequence, receivedAt },
    { requiredKeys: ["kind", "json", "causeSequence"] },
  ),
);

function canonicalLine(e: LoggedEvent): string {
  const bridge =
    e.kind === "session_started"
      ? bridges.SessionStartEvent
      : e.kind === "session_ended"
        ? bridges.SessionEndEvent
        : bridges.VrpEvent;
  return JSON.stringify(bridge.toJson(bridge.fromJson(e.json) as never));
}

test("export -> import -> export is lossless for every event type and entry kind, in both layouts", async () => {
  const dir = tempDir();
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(loggedEvent, { minLength: 1, maxLength: 6 }), async (events) => {
      const at = (name: string) => path.join(dir, `${run}-${name}`);
      run++;
      writeSegmentFile(at("log.seg"), events.map(logEntryBytes));
      for (const layout of ["events", "records"] as const) {
        await exportArchive(at("log.seg"), { output: at(`${layout}-1.jsonl`), layout });
        await importArchive(at(`${layout}-1.jsonl`), { output: at(`${layout}.seg`) });
        await exportArchive(at(`${layout}.seg`), { output: at(`${layout}-2.jsonl`), layout });
        assert.is(readFileSync(at(`${layout}-2.jsonl`), "utf8"), readFileSync(at(`${layout}-1.jsonl`), "utf8"), layout);
      }
      const exported = readFileSync(at("events-1.jsonl"), "utf8");
      assert.is(exported, events.map((e) => `${canonicalLine(e)}\n`).join(""));
      const records = readFileSync(at("records-1.jsonl"), "utf8")
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l));
      assert.equal(
        records.map((r) => r.entry),
        events.map((e) => e.kind),
      );
      assert.equal(
        records.map((r) => r.log_sequence),
        events.map((_, i) => i + 1),
      );
    }),
    RUNS,
  );
});

test.run();
