/**
 * The known VRP vocabulary (seed: VRP contract v0.1-preview, sections 2 and 3).
 *
 * event_type is an open string on the wire and in JSON: this registry says
 * which values are known, it does not forbid new ones. States are a closed set.
 */

/** Core event types, in the seed's order, with the seed's meaning. */
export const VRP_EVENT_TYPES = {
  SESSION_CREATED: "Session birth event.",
  CANDIDATES_DISCOVERED: "Candidate transport paths evaluated.",
  PATH_SELECTED: "Active transport binding selected.",
  VOLATILITY_SIGNAL: "Transport instability detected.",
  MUTATION_TICK: "Internal decision cycle iteration.",
  STATE_CHANGE: "Explicit session state transition.",
  RECOVERY_SIGNAL: "Stability window detected.",
  AUDIT_EVENT: "Explicit invariant confirmation or policy event.",
} as const;

/** One of the seed's VRP event types. */
export type KnownVrpEventType = keyof typeof VRP_EVENT_TYPES;

/** The VRP event types the seed defines, in its order (others pass through unharmed). */
export const KNOWN_VRP_EVENT_TYPES = Object.keys(VRP_EVENT_TYPES) as KnownVrpEventType[];

/** Whether `type` is one of the seed's event types. */
export function isKnownVrpEventType(type: string): type is KnownVrpEventType {
  return Object.hasOwn(VRP_EVENT_TYPES, type);
}

/** The session states of the conceptual model (section 3). TERMINATED is final. */
export const VRP_SESSION_STATES = ["BIRTH", "ATTACHED", "VOLATILE", "DEGRADED", "RECOVERING", "TERMINATED"] as const;

/** One of the VRP session states (a closed set). */
export type VrpSessionState = (typeof VRP_SESSION_STATES)[number];
