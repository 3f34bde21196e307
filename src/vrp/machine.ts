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
import { BIRTH_TRANSITION, OBSERVATIONS, TRANSITIONS, findTransition } from "./transitions.js";

/** One VRP session's state as the machine holds it. */
export interface SessionSnapshot {
  state: VrpSessionState;
  /** The active transport's id, if any. */
  activeTransport: string | undefined;
  /** The node_id of the binding of the active transport (its ownership is per node). */
  activeNode: string | undefined;
  /** ts_ms of the transport switches within the last minute. */
  switches: number[];
  /** ts_ms when the session left ATTACHED (VOLATILE, DEGRADED, RECOVERING). */
  troubledSince: number | undefined;
  /** Whether this episode's RECOVERY_WINDOW_EXCEEDED was already raised. */
  windowAudited: boolean;
}

const MINUTE_MS = 60_000;

/**
 * Where the machine keeps its state: sessions by id and which session each
 * transport is bound to (released on TERMINATED). In memory by default; the
 * collector keeps it in the state store (src/state/vrp-tables.ts). `session`
 * returns a copy the machine may change; it writes it back with `putSession`.
 */
export interface VrpStateAccess {
  session(sessionId: string): SessionSnapshot | undefined;
  putSession(sessionId: string, snapshot: SessionSnapshot): void;
  owner(key: string): string | undefined;
  setOwner(key: string, sessionId: string): void;
  deleteOwner(key: string): void;
  /** Everything, for comparisons (tests, small states). */
  entries(): { sessions: Iterable<[string, SessionSnapshot]>; owners: Iterable<[string, string]> };
}

export class MemoryVrpState implements VrpStateAccess {
  private readonly sessions = new Map<string, SessionSnapshot>();
  private readonly owners = new Map<string, string>();
  session(sessionId: string): SessionSnapshot | undefined {
    const s = this.sessions.get(sessionId);
    return s && { ...s, switches: [...s.switches] };
  }
  putSession(sessionId: string, snapshot: SessionSnapshot): void {
    this.sessions.set(sessionId, snapshot);
  }
  owner(key: string): string | undefined {
    return this.owners.get(key);
  }
  setOwner(key: string, sessionId: string): void {
    this.owners.set(key, sessionId);
  }
  deleteOwner(key: string): void {
    this.owners.delete(key);
  }
  entries() {
    return { sessions: this.sessions.entries(), owners: this.owners.entries() };
  }
}

/** The deterministic VRP session state machine: `apply` takes an event and returns the STATE_CHANGE and AUDIT_EVENT events it causes, reason-coded. */
export class VrpStateMachine {
  constructor(
    public policy: VrpPolicy = DEFAULT_POLICY,
    private readonly state: VrpStateAccess = new MemoryVrpState(),
  ) {}

  session(sessionId: string): Readonly<SessionSnapshot> | undefined {
    return this.state.session(sessionId);
  }

  /** Everything the machine knows, as plain data (for comparisons). */
  snapshot(): { sessions: Record<string, SessionSnapshot>; transports: Record<string, string> } {
    const { sessions, owners } = this.state.entries();
    return {
      sessions: Object.fromEntries(
        [...sessions]
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([id, s]) => [id, { ...s, switches: [...s.switches] }]),
      ),
      transports: Object.fromEntries([...owners].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    };
  }

  /** Apply one event (at log position `sequence`); returns the events it caused. */
  apply(event: VrpEventJson, sequence: number): VrpEventJson[] {
    const out = this.decide(event, sequence);
    this.commit(event, out);
    return out;
  }

  /**
   * Restore: apply an event with the outcomes stored for it in the log,
   * without deciding again. Replay uses this, so the state after a restart is
   * what the stored outcomes say, whatever the policy (or the code) is now.
   */
  restore(event: VrpEventJson, derived: readonly VrpEventJson[]): void {
    this.commit(event, derived);
  }

  /** What an event causes in the current state (changes nothing). */
  decide(event: VrpEventJson, sequence: number): VrpEventJson[] {
    const type = event.event_type;
    if (!isKnownVrpEventType(type)) return []; // forward compatible: stored, forwarded, never a transition
    const out: VrpEventJson[] = [];
    const ctx = { event, sequence, out };
    const session = this.state.session(event.session_id);

    if (!session) {
      if (type === BIRTH_TRANSITION.on) stateChange(ctx, "NONE", BIRTH_TRANSITION.to, BIRTH_TRANSITION.reason);
      else if (!OBSERVATIONS.has(type)) audit(ctx, "SESSION_NOT_CREATED", "NONE");
      return out;
    }
    if (session.state === "TERMINATED") {
      if (!OBSERVATIONS.has(type)) audit(ctx, "SESSION_TERMINATED", session.state);
      return out;
    }

    this.checkRecoveryWindow(ctx, session);
    if (OBSERVATIONS.has(type)) return out;

    if (type === "STATE_CHANGE") {
      this.declared(ctx, session);
      return out;
    }
    const transition = findTransition(session.state, type);
    if (!transition) {
      audit(ctx, "TRANSITION_NOT_ALLOWED", session.state);
      return out;
    }
    if (
      type === "PATH_SELECTED" &&
      session.state === "ATTACHED" &&
      event.details?.transport_id === session.activeTransport &&
      session.activeTransport !== undefined
    ) {
      return out; // the active transport selected again: nothing changes, nothing to say
    }
    if (type === "PATH_SELECTED" && !this.bindingAllowed(ctx, session)) return out;
    stateChange(ctx, session.state, transition.to, transition.reason);
    return out;
  }

  /**
   * A producer STATE_CHANGE declares the state it reached (`details.to_state`,
   * optionally `details.from_state`). The machine takes the declared
   * transition when the table has a row from the current state to that state
   * (the first such row); otherwise the state stays and an audit says so.
   * Termination keeps the row's reason code (TERMINATED), so consumers can
   * key on it; other declared transitions carry the producer's reason code,
   * else the row's.
   */
  private declared(ctx: Ctx, session: SessionSnapshot): void {
    const to = requestedState(ctx.event);
    if (typeof to !== "string") {
      audit(ctx, "TRANSITION_NOT_ALLOWED", session.state); // not a declaration: a STATE_CHANGE must name to_state
      return;
    }
    const from = ctx.event.details?.from_state;
    if (from !== undefined && from !== session.state) {
      audit(ctx, "DECLARED_FROM_STATE_MISMATCH", session.state, { declared_from_state: from, declared_to_state: to });
    }
    if (to === session.state) return; // already there: nothing changes
    const row = TRANSITIONS.find((t) => t.to === to && t.from.includes(session.state));
    if (!row) {
      audit(ctx, "DECLARED_TRANSITION_NOT_ALLOWED", session.state, { declared_to_state: to });
      return;
    }
    const reason = row.to === "TERMINATED" ? row.reason : (ctx.event.reason_code ?? row.reason);
    stateChange(ctx, session.state, row.to, reason);
  }

  /** The one place state changes: from an event and the outcomes decided (or stored) for it. */
  private commit(event: VrpEventJson, derived: readonly VrpEventJson[]): void {
    const change = derived.find((d) => d.event_type === "STATE_CHANGE");
    const session = this.state.session(event.session_id);
    const windowExceeded = derived.some(
      (d) => d.event_type === "AUDIT_EVENT" && d.reason_code === "RECOVERY_WINDOW_EXCEEDED",
    );
    if (session && windowExceeded) session.windowAudited = true;
    if (!change) {
      if (session && windowExceeded) this.state.putSession(event.session_id, session);
      return;
    }
    const from = change.details?.from_state;
    const to = change.details?.to_state as VrpSessionState;
    if (!session) {
      this.state.putSession(event.session_id, {
        state: to,
        activeTransport: undefined,
        activeNode: undefined,
        switches: [],
        troubledSince: undefined,
        windowAudited: false,
      });
      return;
    }
    if (event.event_type === "PATH_SELECTED") this.bind(event, session);
    session.state = to;
    if (to === "ATTACHED") {
      session.troubledSince = undefined;
      session.windowAudited = false;
    } else if (from === "ATTACHED" && to !== "TERMINATED") {
      session.troubledSince = event.ts_ms; // the recovery window starts
    }
    if (to === "TERMINATED" && session.activeTransport !== undefined) {
      this.state.deleteOwner(ownerKey(session.activeNode, session.activeTransport));
      session.activeTransport = undefined;
      session.activeNode = undefined;
    }
    this.state.putSession(event.session_id, session);
  }

  /** Record a binding that was allowed: the transport becomes the active one, a switch is counted. */
  private bind(event: VrpEventJson, session: SessionSnapshot): void {
    const transport = transportOf(event)!;
    const active = session.activeTransport;
    if (active !== undefined && active !== transport) {
      const now = event.ts_ms;
      session.switches = [...session.switches.filter((t) => t > now - MINUTE_MS), now];
    }
    if (active !== undefined) this.state.deleteOwner(ownerKey(session.activeNode, active));
    session.activeTransport = transport;
    session.activeNode = event.node_id;
    this.state.setOwner(ownerKey(event.node_id, transport), event.session_id);
  }

  /** The binding invariants: true when the binding may go ahead; otherwise the audit says why not. */
  private bindingAllowed(ctx: Ctx, session: SessionSnapshot): boolean {
    const details = ctx.event.details ?? {};
    const ids = Array.isArray(details.transport_ids) ? details.transport_ids : undefined;
    if (ids && ids.length > 1) return (audit(ctx, "MULTIPLE_ACTIVE_TRANSPORTS", session.state), false);
    const transport = transportOf(ctx.event);
    if (!transport) return (audit(ctx, "TRANSPORT_UNSPECIFIED", session.state), false);
    const owner = this.state.owner(ownerKey(ctx.event.node_id, transport));
    if (owner !== undefined && owner !== ctx.event.session_id) {
      return (
        audit(ctx, "SESSION_ID_CHANGED_ON_REATTACH", session.state, { transport_id: transport, bound_to: owner }), false
      );
    }
    const active = session.activeTransport;
    if (details.replaces !== undefined && details.replaces !== active) {
      return (
        audit(ctx, "REPLACED_TRANSPORT_NOT_ACTIVE", session.state, {
          transport_id: transport,
          replaces: details.replaces as string,
          active_transport: active ?? null,
        }),
        false
      );
    }
    const isSwitch = active !== undefined && active !== transport;
    if (isSwitch && details.replaces !== active) {
      return (
        audit(ctx, "DUAL_ACTIVE_BINDING", session.state, { transport_id: transport, active_transport: active }), false
      );
    }
    if (isSwitch) {
      const now = ctx.event.ts_ms;
      const recent = session.switches.filter((t) => t > now - MINUTE_MS);
      if (recent.length + 1 > this.policy.maxSwitchesPerMinute) {
        return (
          audit(ctx, "SWITCH_RATE_EXCEEDED", session.state, {
            switches_last_minute: recent.length,
            limit: this.policy.maxSwitchesPerMinute,
          }),
          false
        );
      }
    }
    return true;
  }

  private checkRecoveryWindow(ctx: Ctx, session: SessionSnapshot): void {
    if (session.troubledSince === undefined || session.windowAudited) return;
    const troubledFor = ctx.event.ts_ms - session.troubledSince;
    if (troubledFor > this.policy.maxRecoveryWindowMs) {
      audit(ctx, "RECOVERY_WINDOW_EXCEEDED", session.state, {
        troubled_ms: troubledFor,
        limit_ms: this.policy.maxRecoveryWindowMs,
      });
    }
  }
}

/**
 * Who may own a transport: a transport id is one node's (its UDP port, say),
 * so ownership is keyed by (node_id, transport_id) when the event names its
 * node, and by the transport id alone when it does not.
 */
function ownerKey(nodeId: string | undefined, transport: string): string {
  return nodeId === undefined ? transport : `${nodeId}\u0000${transport}`;
}

/** The transport a PATH_SELECTED binds: details.transport_id, else the only one of details.transport_ids. */
function transportOf(event: VrpEventJson): string | undefined {
  const details = event.details ?? {};
  const ids = Array.isArray(details.transport_ids) ? details.transport_ids : undefined;
  return typeof details.transport_id === "string"
    ? details.transport_id
    : typeof ids?.[0] === "string"
      ? ids[0]
      : undefined;
}

interface Ctx {
  readonly event: VrpEventJson;
  readonly sequence: number;
  readonly out: VrpEventJson[];
}

function stateChange(ctx: Ctx, from: string, to: string, reason: string): void {
  const details: JsonObject = {
    from_state: from,
    to_state: to,
    cause_event_type: ctx.event.event_type,
    cause_sequence: ctx.sequence,
  };
  if (ctx.event.reason_code !== undefined) details.cause_reason_code = ctx.event.reason_code;
  ctx.out.push({
    ts_ms: ctx.event.ts_ms,
    event_type: "STATE_CHANGE",
    session_id: ctx.event.session_id,
    reason_code: reason,
    details,
  });
}

function audit(ctx: Ctx, rule: AuditRule, state: string, extra: JsonObject = {}): void {
  ctx.out.push({
    ts_ms: ctx.event.ts_ms,
    event_type: "AUDIT_EVENT",
    session_id: ctx.event.session_id,
    reason_code: rule,
    details: {
      rule,
      message: AUDIT_RULES[rule],
      state,
      cause_event_type: ctx.event.event_type,
      cause_sequence: ctx.sequence,
      ...extra,
    },
  });
}

function requestedState(event: VrpEventJson): unknown {
  return event.details?.to_state;
}
