/**
 * Contract benchmark: the bridge with validation, each way, beside the JSON
 * half of the same work alone, and beside a peer that validates nothing
 * beyond protobuf's JSON rules:
 *
 *   ingest:  bridge.toBinary(JSON.parse(text))   JSON text -> parse -> version, schema
 *            and contract rules -> protobuf message -> bytes
 *      baseline  JSON.parse(text)                 the parse any JSON ingest does
 *      peer      protobuf-es toBinary(fromJsonString(text))   text -> message -> bytes,
 *                checking protobuf JSON only (names, types), no schema, no contract rules
 *   egress:  JSON.stringify(bridge.fromBinary(bytes))   bytes -> message -> contract JSON
 *            -> the same validation -> text
 *      baseline  JSON.stringify(json)             the stringify any JSON egress does
 *      peer      protobuf-es toJsonString(fromBinary(bytes))   bytes -> message -> text
 *
 * Why these baselines: each direction does one JSON half (a parse in, a
 * stringify out), so it is charged against that half alone; a round trip
 * as the baseline would hide half the cost. The peer (the descriptor of the
 * same message, read from gen/descriptors.binpb) shows what protobuf's own
 * JSON mapping costs in JavaScript without the contract's validation. Costs
 * are per round (variant time ÷ baseline time), median. A second table
 * splits each path into its stages.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  createFileRegistry,
  fromBinary,
  fromJsonString,
  toBinary,
  toJsonString,
  type DescMessage,
} from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { bridges } from "../../src/bridge/index.js";
import type { Bridge } from "../../src/bridge/bridge.js";
import { contracts } from "../../src/contract/contracts.js";
import { jsonToMessage, messageToJson } from "../../src/bridge/convert.js";
import {
  sessionEndEventMapping,
  sessionStartEventMapping,
  vrpEventMapping,
  type MessageMapping,
} from "../../src/bridge/mapping.js";
import * as sessionPb from "../../gen/oneiric/session/v1/session_events.js";
import * as vrpPb from "../../gen/vrp/v1alpha1/vrp_event.js";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { validEnd, validStart, validVrp } from "../../test/support/fixtures.js";
import { fmt, measure, type Result } from "./harness.js";

// The seed's example events (the same ones the tests start from).
const start = {
  ...validStart(),
  metadata: { test_mode: true, workspace: "/path/to/workspace", git_branch: "main", git_commit: "abc123" },
};
const end = { ...validEnd(), event_version: "1.0", event_type: "session_end" as const };
const vrp = validVrp();

/** The messages' descriptors, as `npm run gen` builds them from proto/. */
const registry = createFileRegistry(
  fromBinary(
    FileDescriptorSetSchema,
    readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../gen/descriptors.binpb")),
  ),
);
const descriptor = (name: string): DescMessage => {
  const d = registry.getMessage(name);
  if (!d) throw new Error(`gen/descriptors.binpb has no message ${name}`);
  return d;
};

interface Case {
  event: string;
  // biome-ignore lint/suspicious/noExplicitAny: one table of differently typed bridges
  bridge: Bridge<any, any>;
  json: object;
  mapping: MessageMapping;
  validate: (v: unknown) => unknown;
  // biome-ignore lint/suspicious/noExplicitAny: one table of differently typed generated codecs
  type: { encode(m: any, w?: BinaryWriter): { finish(): Uint8Array }; decode(b: Uint8Array): any };
}

const CASES: Case[] = [
  {
    event: "SessionStartEvent",
    bridge: bridges.SessionStartEvent,
    json: start,
    mapping: sessionStartEventMapping,
    validate: contracts.SessionStartEvent.assert,
    type: sessionPb.SessionStartEvent,
  },
  {
    event: "SessionEndEvent",
    bridge: bridges.SessionEndEvent,
    json: end,
    mapping: sessionEndEventMapping,
    validate: contracts.SessionEndEvent.assert,
    type: sessionPb.SessionEndEvent,
  },
  {
    event: "VrpEvent",
    bridge: bridges.VrpEvent,
    json: vrp,
    mapping: vrpEventMapping,
    validate: contracts.VrpEvent.assert,
    type: vrpPb.VrpEvent,
  },
];

export interface ContractRow {
  event: string;
  bytes: number;
  ingest: Result[]; // JSON.parse, bridge, peer
  egress: Result[]; // JSON.stringify, bridge, peer
  stages: Result[];
}

export function benchContract(): ContractRow[] {
  return CASES.map((c) => {
    const text = JSON.stringify(c.json);
    const bytes = c.bridge.toBinary(c.json);
    const message = c.bridge.fromJson(c.json);
    const writer = new BinaryWriter(); // reused, as the bridge does
    const desc = descriptor(c.mapping.protoName);
    // The peer reads the same text and bytes (the contract JSON is protobuf JSON with the proto field names).
    if (!Buffer.from(toBinary(desc, fromJsonString(desc, text))).equals(Buffer.from(bytes)))
      throw new Error(`${c.event}: protobuf-es writes other bytes than the bridge`);
    const ingest = measure([
      { name: "JSON.parse", run: () => JSON.parse(text) },
      { name: "bridge", run: () => c.bridge.toBinary(JSON.parse(text)) },
      { name: "peer", run: () => toBinary(desc, fromJsonString(desc, text)) },
    ]);
    const egress = measure([
      { name: "JSON.stringify", run: () => JSON.stringify(c.json) },
      { name: "bridge", run: () => JSON.stringify(c.bridge.fromBinary(bytes)) },
      { name: "peer", run: () => toJsonString(desc, fromBinary(desc, bytes), { useProtoFieldName: true }) },
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
    return { event: c.event, bytes: bytes.length, ingest, egress, stages };
  });
}

export function contractTables(rows: ContractRow[]): string {
  const cost = (r: Result) => `${r.costRatio.toFixed(2)}×`;
  const main = [
    "| event | ingest: JSON.parse (baseline) | bridge: JSON → validate → protobuf | cost | peer: protobuf-es fromJsonString + toBinary | cost | egress: JSON.stringify (baseline) | bridge: protobuf → JSON → validate | cost | peer: protobuf-es fromBinary + toJsonString | cost |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map(
      ({ event, ingest: [parse, inBridge, inPeer], egress: [stringify, outBridge, outPeer] }) =>
        `| ${event} | ${fmt(parse!.opsPerSec)}/s | ${fmt(inBridge!.opsPerSec)}/s | ${cost(inBridge!)} | ${fmt(inPeer!.opsPerSec)}/s | ${cost(inPeer!)} | ` +
        `${fmt(stringify!.opsPerSec)}/s | ${fmt(outBridge!.opsPerSec)}/s | ${cost(outBridge!)} | ${fmt(outPeer!.opsPerSec)}/s | ${cost(outPeer!)} |`,
    ),
  ];
  const names = rows[0]!.stages.map((s) => s.name);
  const stages = [
    `| event (protobuf bytes) | ${names.join(" | ")} |`,
    `|---|${names.map(() => "---:").join("|")}|`,
    ...rows.map(
      (r) => `| ${r.event} (${r.bytes} B) | ${r.stages.map((s) => `${fmt(1e9 / s.opsPerSec)} ns`).join(" | ")} |`,
    ),
  ];
  return `${main.join("\n")}\n\nTime per event, by stage (median):\n\n${stages.join("\n")}`;
}
