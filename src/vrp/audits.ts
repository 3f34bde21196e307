/**
 * The rules whose violations produce an AUDIT_EVENT, each with its own reason
 * code (seed: VRP contract v0.1, sections 3 and 4).
 */
export const AUDIT_RULES = {
  TRANSITION_NOT_ALLOWED: "the transition table has no row for this event in this state; the state is unchanged",
  SESSION_NOT_CREATED: "an event for a session that has had no SESSION_CREATED",
  SESSION_TERMINATED: "TERMINATED is final: the event cannot change the session",
  TRANSPORT_UNSPECIFIED: "PATH_SELECTED must name the transport it binds (details.transport_id)",
  MULTIPLE_ACTIVE_TRANSPORTS: "a session has at most one active transport: one binding named several",
  DUAL_ACTIVE_BINDING: "a second active binding without releasing the first (details.replaces) is refused",
  REPLACED_TRANSPORT_NOT_ACTIVE: "details.replaces must name the session's active transport",
  SESSION_ID_CHANGED_ON_REATTACH:
    "session_id does not change across transport reattach: the transport belongs to another session",
  SWITCH_RATE_EXCEEDED:
    "recovery is bounded: more transport switches in a minute than the policy allows; the switch is refused",
  RECOVERY_WINDOW_EXCEEDED:
    "recovery is bounded: the session has been out of ATTACHED longer than the policy's recovery window",
  DECLARED_TRANSITION_NOT_ALLOWED:
    "a producer declared a state (details.to_state) the table has no row to from the current state; the state is unchanged",
  DECLARED_FROM_STATE_MISMATCH: "a producer declared a from_state that is not the session's current state",
} as const;

/** The name of an invariant whose breach raises an AUDIT_EVENT. */
export type AuditRule = keyof typeof AUDIT_RULES;

/** Recovery policy (configurable). */
export interface VrpPolicy {
  /** Longest a session may stay out of ATTACHED (VOLATILE, DEGRADED, RECOVERING), by event time. */
  readonly maxRecoveryWindowMs: number;
  /** Most transport switches (bindings that replace the active transport) in any 60 s of event time. */
  readonly maxSwitchesPerMinute: number;
}

/** The VRP policy `serve` uses unless told otherwise. */
export const DEFAULT_POLICY: VrpPolicy = { maxRecoveryWindowMs: 30_000, maxSwitchesPerMinute: 6 };
