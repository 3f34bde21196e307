/**
 * Contract benchmark: the bridge with validation, both ways, beside the plain
 * JSON round trip of the same event (JSON.parse + JSON.stringify).
 *
 *   ingest:   JSON text -> JSON.parse -> validate -> protobuf message -> bytes
 *   egress:   bytes -> protobuf message -> contract JSON -> validate -> JSON.stringify
 *   baseline: JSON.parse + JSON.stringify of the same JSON text
 *
 * The cost ratio is baseline events/s ÷ variant events/s, per round, median:
 * how many plain JSON round trips one bridged event costs (the aim: at most 2).
 * A second table splits each path into its stages, to show where time goes.
 */
import { bridges } from "../../src/bridge/index.js";
import type { Bridge } from "../../src/bridge/bridge.js";
import { contracts } from "../../src/contract/contracts.js";
import { jsonToMessage, messageToJson } from "../../src/bridge/convert.js";
import { sessionEndEventMapping, sessionStartEventMapping, vrpEventMapping, type MessageMapping } from "../../src/bridge/mapping.js";
import * as sessionPb from "../../gen/oneiric/session/v1/session_events.js";
import * as vrpPb from "../../gen/vrp/v1alpha1/vrp_event.js";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { validEnd, validStart, validVrp } from "../../test/support/fixtures.js";
import { fmt, measure, type Result } from "./harness.js";

// The seed's example events (the same ones the tests start from).
const start = { ...validStart(), metadata: { test_mode: true, workspace: "/path/to/workspace", git_branch: "main", git_commit: "abc123" } };
const end = { ...validEnd(), event_version: "1.0", event_type: "session_end" as const };
const vrp = validVrp();

interface Case {
  event: string;
  bridge: Bridge<any, any>;
  json: object;
  mapping: MessageMapping;
  validate: (v: unknown) => unknown;
  type: { encode(m: any, w?: BinaryWriter): { finish(): Uint8Array }; decode(b: Uint8Array): any };
}

const CASES: Case[] = [
  { event: "SessionStartEvent", bridge: bridges.SessionStartEvent, json: start, mapping: sessionStartEventMapping, validate: contracts.SessionStartEvent.assert, type: sessionPb.SessionStartEvent },
  { event: "SessionEndEvent", bridge: bridges.SessionEndEvent, json: end, mapping: sessionEndEventMapping, validate: contracts.SessionEndEvent.assert, type: sessionPb.SessionEndEvent },
  { event: "VrpEvent", bridge: bridges.VrpEvent, json: vrp, mapping: vrpEventMapping, validate: contracts.VrpEvent.assert, type: vrpPb.VrpEvent },
];

export interface ContractRow {
  event: string;
  bytes: number;
  results: Result[]; // baseline, ingest, egress
  stages: Result[];
}

export function benchContract(): ContractRow[] {
  return CASES.map((c) => {
    const text = JSON.stringify(c.json);
    const bytes = c.bridge.toBinary(c.json);
    const message = c.bridge.fromJson(c.json);
    const writer = new BinaryWriter(); // reused, as the bridge does
    const results = measure([
      { name: "baseline", run: () => JSON.stringify(JSON.parse(text)) },
      { name: "ingest", run: () => c.bridge.toBinary(JSON.parse(text)) },
      { name: "egress", run: () => JSON.stringify(c.bridge.fromBinary(bytes)) },
    ]);
    const stages = measure(
      [
        { name: "JSON.parse", run: () => JSON.parse(text) },
        { name: "JSON.stringify", run: () => JSON.stringify(c.json) },
        { name: "validate", run: () => c.validate(c.json) },
        { name: "JSON → message", run: () => jsonToMessage(c.mapping, c.json as Record<string, unknown>, "", []) },
        { name: "message → JSON", run: () => messageToJson(c.mapping, message, "", []) },
        { name: "ts-proto encode", run: () => c.type.encode(message, writer).finish() },
        { name: "ts-proto decode", run: () => c.type.decode(bytes) },
      ],
      { rounds: 11, roundMs: 40 },
    );
    return { event: c.event, bytes: bytes.length, results, stages };
  });
}

export function contractTables(rows: ContractRow[]): string {
  const main = [
    "| event | JSON.parse + stringify (baseline) | JSON → validate → protobuf | cost | protobuf → JSON → validate | cost |",
    "|---|---:|---:|---:|---:|---:|",
    ...rows.map(({ event, results: [base, ingest, egress] }) =>
      `| ${event} | ${fmt(base!.opsPerSec)}/s | ${fmt(ingest!.opsPerSec)}/s | ${ingest!.costRatio.toFixed(2)}× | ${fmt(egress!.opsPerSec)}/s | ${egress!.costRatio.toFixed(2)}× |`,
    ),
  ];
  const names = rows[0]!.stages.map((s) => s.name);
  const stages = [
    `| event (protobuf bytes) | ${names.join(" | ")} |`,
    `|---|${names.map(() => "---:").join("|")}|`,
    ...rows.map((r) => `| ${r.event} (${r.bytes} B) | ${r.stages.map((s) => `${fmt(1e9 / s.opsPerSec)} ns`).join(" | ")} |`),
  ];
  return `${main.join("\n")}\n\nTime per event, by stage (median):\n\n${stages.join("\n")}`;
}
