/**
 * Contract benchmark: the bridge with validation, both ways, beside the plain
 * JSON round trip of the same event (JSON.parse + JSON.stringify).
 *
 *   ingest:  JSON text -> JSON.parse -> validate -> protobuf message -> bytes
 *   egress:  bytes -> protobuf message -> contract JSON -> validate -> JSON.stringify
 *   baseline: JSON.parse + JSON.stringify of the same JSON text
 *
 * Ratio = baseline events/s divided by the variant's events/s: how many times
 * the plain JSON round trip's cost the bridge costs (the aim is at most 2).
 */
import { bridges } from "../../src/bridge/index.js";
import type { Bridge } from "../../src/bridge/bridge.js";
import { fmt, measure, type Result } from "./harness.js";

const start = {
  event_version: "1.0",
  event_id: "550e8400-e29b-41d4-a716-446655440000",
  event_type: "session_start",
  component_name: "mahavishnu",
  shell_type: "MahavishnuShell",
  timestamp: "2026-02-06T12:34:56.789Z",
  pid: 12345,
  user: { username: "john", home: "/home/john" },
  hostname: "server01",
  environment: { python_version: "3.13.0", platform: "Linux-6.5.0-x86_64", cwd: "/home/john/projects/mahavishnu" },
  metadata: { test_mode: true, workspace: "/path/to/workspace", git_branch: "main", git_commit: "abc123" },
};
const end = {
  event_version: "1.0",
  event_type: "session_end",
  session_id: "sess_abc123",
  timestamp: "2026-02-06T13:45:07.890Z",
  metadata: { exit_reason: "user_exit", duration_seconds: 3600 },
};
const vrp = {
  ts_ms: 1700000000000,
  event_type: "PATH_SELECTED",
  session_id: "sess-7f3a",
  node_id: "node-eu-1",
  reason_code: "LOWEST_RTT",
  details: { path: "udp/443", rtt_ms: 12.5, candidates: 3 },
};

export interface ContractRow {
  event: string;
  baseline: Result;
  ingest: Result;
  egress: Result;
}

export function benchContract(): ContractRow[] {
  const cases: [string, Bridge<any, any>, object][] = [
    ["SessionStartEvent", bridges.SessionStartEvent, start],
    ["SessionEndEvent", bridges.SessionEndEvent, end],
    ["VrpEvent", bridges.VrpEvent, vrp],
  ];
  return cases.map(([event, bridge, json]) => {
    const text = JSON.stringify(json);
    const bytes = bridge.toBinary(json);
    const [baseline, ingest, egress] = measure([
      { name: "baseline", run: () => JSON.stringify(JSON.parse(text)) },
      { name: "ingest", run: () => bridge.toBinary(JSON.parse(text)) },
      { name: "egress", run: () => JSON.stringify(bridge.fromBinary(bytes)) },
    ]);
    return { event, baseline: baseline!, ingest: ingest!, egress: egress! };
  });
}

export function contractTable(rows: ContractRow[]): string {
  const ratio = (base: Result, r: Result) => (base.opsPerSec / r.opsPerSec).toFixed(2);
  const lines = [
    "| event | JSON.parse+stringify (baseline) | JSON → validate → protobuf | ratio | protobuf → JSON → validate | ratio |",
    "|---|---:|---:|---:|---:|---:|",
    ...rows.map(
      (r) =>
        `| ${r.event} | ${fmt(r.baseline.opsPerSec)}/s | ${fmt(r.ingest.opsPerSec)}/s | ${ratio(r.baseline, r.ingest)}× | ${fmt(r.egress.opsPerSec)}/s | ${ratio(r.baseline, r.egress)}× |`,
    ),
  ];
  return lines.join("\n");
}
