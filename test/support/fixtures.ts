/** Valid events to start from (the seed's own examples), copied fresh per call. */
import type { SessionEndEventJson, SessionStartEventJson, VrpEventJson } from "../../src/contract/types.js";

export function validStart(): SessionStartEventJson {
  return {
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
    metadata: { custom: "data" },
  };
}

export function validEnd(): SessionEndEventJson {
  return {
    session_id: "sess_abc123",
    timestamp: "2026-02-06T13:45:07.890Z",
    metadata: { exit_reason: "user_exit" },
  };
}

export function validVrp(): VrpEventJson {
  return {
    ts_ms: 1700000000000,
    event_type: "PATH_SELECTED",
    session_id: "sess-1",
    node_id: "node-a",
    reason_code: "LOWEST_RTT",
    details: { path: "udp/1", rtt_ms: 12.5 },
  };
}
