/**
 * The VRP state machine: consumes events in log order and returns what they
 * caused (STATE_CHANGE and AUDIT_EVENT events, as contract JSON). It reads
 * only the events (their ts_ms, never the clock) and the transition table, so
 * the same events always give the same states and the same derived events.
 *
 * Transport bindings (PATH_SELECTED): `details.transport_id` names the
 * transport; a binding that replaces the active transport says so with
 * `details.replaces` (the active transport's id). Unknown event types are
 * accepted and never change state.
 */
import { isKnownVrpEventType, type VrpSessionState } from "../contract/vrp-vocabulary.js";
import type { JsonObject, VrpEventJson } from "../contract/types.js";
import { AUDIT_RULES, DEFAULT_POLICY, type AuditRule, type VrpPolicy } from "./audits.js";
import { BIRTH_TRANSITION, OBSERVATIONS, findTransition } from "./transitions.js";

export interface SessionSnapshot {
  state: VrpSessionState;
  /** The active transport's id, if any. */
  activeTransport: string | undefined;
  /** ts_ms of the transport switches within the last minute. */
  switches: number[];
  /** ts_ms when the session left ATTACHED (VOLATILE, DEGRADED, RECOVERING). */
  troubledSince: number | undefined;
  /** Whether this episode's RECOVERY_WINDOW_EXCEEDED was already raised. */
  windowAudited: boolean;
}

const MINUTE_MS = 60_000;

export class VrpStateMachine {
  private readonly sessions = new Map<string, SessionSnapshot>();
  /** Which session each transport is bound to (released on TERMINATED). */
  private readonly transportOwners = new Map<string, string>();

  constructor(readonly policy: VrpPolicy = DEFAULT_POLICY) {}

  session(sessionId: string): Readonly<SessionSnapshot> | undefined {
    return this.sessions.get(sessionId);
  }

  /** Everything the machine knows, as plain data (for comparisons). */
  snapshot(): { sessions: Record<string, SessionSnapshot>; transports: Record<string, string> } {
    return {
      sessions: Object.fromEntries([...this.sessions].map(([id, s]) => [id, { ...s, switches: [...s.switches] }])),
      transports: Object.fromEntries(this.transportOwners),
    };
  }

  /** Apply one event (at log position `sequence`); returns the events it caused. */
  apply(event: VrpEventJson, sequence: number): VrpEventJson[] {
    const type = event.event_type;
    if (!isKnownVrpEventType(type)) return []; // forward compatible: stored, forwarded, never a transition
    const out: VrpEventJson[] = [];
    const ctx = { event, sequence, out };
    const session = this.sessions.get(event.session_id);

    if (!session) {
      if (type === BIRTH_TRANSITION.on) {
        this.sessions.set(event.session_id, { state: BIRTH_TRANSITION.to, activeTransport: undefined, switches: [], troubledSince: undefined, windowAudited: false });
        stateChange(ctx, "NONE", BIRTH_TRANSITION.to, BIRTH_TRANSITION.reason);
      } else if (!OBSERVATIONS.has(type)) {
        audit(ctx, "SESSION_NOT_CREATED", "NONE");
      }
      return out;
    }
    if (session.state === "TERMINATED") {
      if (!OBSERVATIONS.has(type)) audit(ctx, "SESSION_TERMINATED", session.state);
      return out;
    }

    this.checkRecoveryWindow(ctx, session);
    if (OBSERVATIONS.has(type)) return out;

    const transition = findTransition(session.state, type);
    if (!transition || (type === "STATE_CHANGE" && requestedState(event) !== transition.to)) {
      audit(ctx, "TRANSITION_NOT_ALLOWED", session.state);
      return out;
    }
    if (type === "PATH_SELECTED" && session.state === "ATTACHED" && ctx.event.details?.transport_id === session.activeTransport && session.activeTransport !== undefined) {
      return out; // the active transport selected again: nothing changes, nothing to say
    }
    if (type === "PATH_SELECTED" && !this.bind(ctx, session)) return out;

    const from = session.state;
    session.state = transition.to;
    if (transition.to === "ATTACHED") {
      session.troubledSince = undefined;
      session.windowAudited = false;
    } else if (from === "ATTACHED" && transition.to !== "TERMINATED") {
      session.troubledSince = event.ts_ms; // the recovery window starts
    }
    if (transition.to === "TERMINATED" && session.activeTransport !== undefined) {
      this.transportOwners.delete(session.activeTransport);
      session.activeTransport = undefined;
    }
    stateChange(ctx, from, transition.to, transition.reason);
    return out;
  }

  /** The binding invariants; true when the binding may go ahead (and is recorded). */
  private bind(ctx: Ctx, session: SessionSnapshot): boolean {
    const details = ctx.event.details ?? {};
    const ids = Array.isArray(details.transport_ids) ? details.transport_ids : undefined;
    if (ids && ids.length > 1) return audit(ctx, "MULTIPLE_ACTIVE_TRANSPORTS", session.state), false;
    const transport = typeof details.transport_id === "string" ? details.transport_id : typeof ids?.[0] === "string" ? ids[0] : undefined;
    if (!transport) return audit(ctx, "TRANSPORT_UNSPECIFIED", session.state), false;
    const owner = this.transportOwners.get(transport);
    if (owner !== undefined && owner !== ctx.event.session_id) {
      return audit(ctx, "SESSION_ID_CHANGED_ON_REATTACH", session.state, { transport_id: transport, bound_to: owner }), false;
    }
    const active = session.activeTransport;
    if (details.replaces !== undefined && details.replaces !== active) {
      return audit(ctx, "REPLACED_TRANSPORT_NOT_ACTIVE", session.state, { transport_id: transport, replaces: details.replaces as string, active_transport: active ?? null }), false;
    }
    const isSwitch = active !== undefined && active !== transport;
    if (isSwitch && details.replaces !== active) {
      return audit(ctx, "DUAL_ACTIVE_BINDING", session.state, { transport_id: transport, active_transport: active }), false;
    }
    if (isSwitch) {
      const now = ctx.event.ts_ms;
      session.switches = session.switches.filter((t) => t > now - MINUTE_MS);
      if (session.switches.length + 1 > this.policy.maxSwitchesPerMinute) {
        return audit(ctx, "SWITCH_RATE_EXCEEDED", session.state, { switches_last_minute: session.switches.length, limit: this.policy.maxSwitchesPerMinute }), false;
      }
      session.switches.push(now);
      this.transportOwners.delete(active);
    }
    session.activeTransport = transport;
    this.transportOwners.set(transport, ctx.event.session_id);
    return true;
  }

  private checkRecoveryWindow(ctx: Ctx, session: SessionSnapshot): void {
    if (session.troubledSince === undefined || session.windowAudited) return;
    const troubledFor = ctx.event.ts_ms - session.troubledSince;
    if (troubledFor > this.policy.maxRecoveryWindowMs) {
      session.windowAudited = true;
      audit(ctx, "RECOVERY_WINDOW_EXCEEDED", session.state, { troubled_ms: troubledFor, limit_ms: this.policy.maxRecoveryWindowMs });
    }
  }
}

interface Ctx {
  readonly event: VrpEventJson;
  readonly sequence: number;
  readonly out: VrpEventJson[];
}

function stateChange(ctx: Ctx, from: string, to: string, reason: string): void {
  const details: JsonObject = { from_state: from, to_state: to, cause_event_type: ctx.event.event_type, cause_sequence: ctx.sequence };
  if (ctx.event.reason_code !== undefined) details.cause_reason_code = ctx.event.reason_code;
  ctx.out.push({ ts_ms: ctx.event.ts_ms, event_type: "STATE_CHANGE", session_id: ctx.event.session_id, reason_code: reason, details });
}

function audit(ctx: Ctx, rule: AuditRule, state: string, extra: JsonObject = {}): void {
  ctx.out.push({
    ts_ms: ctx.event.ts_ms,
    event_type: "AUDIT_EVENT",
    session_id: ctx.event.session_id,
    reason_code: rule,
    details: { rule, message: AUDIT_RULES[rule], state, cause_event_type: ctx.event.event_type, cause_sequence: ctx.sequence, ...extra },
  });
}

function requestedState(event: VrpEventJson): unknown {
  return event.details?.to_state;
}
