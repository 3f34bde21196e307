/**
 * The VRP session state machine, as data: from which states an event moves a
 * session to which state, and the reason code the transition carries. The
 * machine (machine.ts) is driven by this table and nothing else; the README
 * renders it. Every transition is explicit (a row), deterministic (one row per
 * state and event) and reason-coded. TERMINATED has no rows out: it is final.
 */
import type { VrpSessionState } from "../contract/vrp-vocabulary.js";

/** One row of TRANSITIONS. */
export interface Transition {
  readonly from: readonly VrpSessionState[];
  readonly on: string;
  readonly to: VrpSessionState;
  readonly reason: string;
  readonly meaning: string;
}

const TROUBLED = ["VOLATILE", "DEGRADED", "RECOVERING"] as const;
const LIVE = ["BIRTH", "ATTACHED", ...TROUBLED] as const;

/** The VRP state transitions, as data: on which event, from which states, to which state, with which reason code. */
export const TRANSITIONS: readonly Transition[] = [
  {
    from: ["BIRTH"],
    on: "PATH_SELECTED",
    to: "ATTACHED",
    reason: "PATH_BOUND",
    meaning: "the first transport is bound",
  },
  {
    from: ["ATTACHED"],
    on: "PATH_SELECTED",
    to: "ATTACHED",
    reason: "PATH_SWITCHED",
    meaning: "a better transport replaces the active one",
  },
  {
    from: TROUBLED,
    on: "PATH_SELECTED",
    to: "ATTACHED",
    reason: "PATH_REATTACHED",
    meaning: "a transport (the same or a replacement) is bound again",
  },
  {
    from: ["ATTACHED"],
    on: "VOLATILITY_SIGNAL",
    to: "VOLATILE",
    reason: "INSTABILITY_DETECTED",
    meaning: "the transport became unstable",
  },
  {
    from: ["VOLATILE"],
    on: "VOLATILITY_SIGNAL",
    to: "DEGRADED",
    reason: "INSTABILITY_PERSISTED",
    meaning: "the instability went on",
  },
  {
    from: ["RECOVERING"],
    on: "VOLATILITY_SIGNAL",
    to: "DEGRADED",
    reason: "RECOVERY_INTERRUPTED",
    meaning: "instability during the stability window",
  },
  {
    from: ["VOLATILE"],
    on: "RECOVERY_SIGNAL",
    to: "ATTACHED",
    reason: "STABILIZED",
    meaning: "the transport settled by itself",
  },
  {
    from: ["DEGRADED"],
    on: "RECOVERY_SIGNAL",
    to: "RECOVERING",
    reason: "STABILITY_WINDOW_OPENED",
    meaning: "a stability window began",
  },
  {
    from: ["RECOVERING"],
    on: "RECOVERY_SIGNAL",
    to: "ATTACHED",
    reason: "RECOVERED",
    meaning: "the stability window held",
  },
  {
    from: LIVE,
    on: "STATE_CHANGE",
    to: "TERMINATED",
    reason: "TERMINATED",
    meaning: "the producer ends the session (details.to_state = TERMINATED)",
  },
];

/** How a session is born: SESSION_CREATED for an unknown session id. */
export const BIRTH_TRANSITION = { on: "SESSION_CREATED", to: "BIRTH", reason: "SESSION_BORN" } as const;

/** Known events that are observations, not transitions: accepted in any live state, state unchanged. */
export const OBSERVATIONS: ReadonlySet<string> = new Set(["CANDIDATES_DISCOVERED", "MUTATION_TICK", "AUDIT_EVENT"]);

export function findTransition(from: VrpSessionState, on: string): Transition | undefined {
  return TRANSITIONS.find((t) => t.on === on && t.from.includes(from));
}
