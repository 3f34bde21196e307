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

/**
 * One VRP session's life, in order: created, a path, volatility that opens
 * and closes a stability window, a path switch, and its end. `ev` makes each
 * event (each test keeps its own clock).
 */
export function sessionLifecycle(
  ev: (eventType: string, sessionId: string, details?: Record<string, unknown>) => VrpEventJson,
  s: string,
): VrpEventJson[] {
  return [
    ev("SESSION_CREATED", s),
    ev("PATH_SELECTED", s, { transport_id: "udp/1" }),
    ev("VOLATILITY_SIGNAL", s),
    ev("VOLATILITY_SIGNAL", s),
    ev("RECOVERY_SIGNAL", s),
    ev("RECOVERY_SIGNAL", s),
    ev("VOLATILITY_SIGNAL", s),
    ev("PATH_SELECTED", s, { transport_id: "tcp/2", replaces: "udp/1" }),
    { ...ev("STATE_CHANGE", s, { to_state: "TERMINATED" }), reason_code: "USER_EXIT" },
  ];
}
