/**
 * The machine's state as the hub decides with it: the state store's (what
 * durable, applied records made it) plus the effects of events accepted but
 * not yet applied (in flight to the log, or waiting for the next batch of the
 * state store). Each pending change is tagged with the log sequence that made
 * it and dropped once the store has applied that sequence: from then on the
 * store holds the same value. So memory holds only what is in flight.
 */
import type { SessionSnapshot, VrpStateAccess } from "./machine.js";

type Tagged<T> = { value: T | undefined; tag: bigint };

export class PendingVrpState implements VrpStateAccess {
  private readonly sessions = new Map<string, Tagged<SessionSnapshot>>();
  private readonly owners = new Map<string, Tagged<string>>();
  /** The log sequence of the event being decided: the tag of what it changes. */
  tag = 0n;

  constructor(private readonly base: VrpStateAccess) {}

  session(sessionId: string): SessionSnapshot | undefined {
    const pending = this.sessions.get(sessionId);
    if (!pending) return this.base.session(sessionId);
    return pending.value && { ...pending.value, switches: [...pending.value.switches] };
  }

  putSession(sessionId: string, snapshot: SessionSnapshot): void {
    this.sessions.set(sessionId, { value: snapshot, tag: this.tag });
  }

  owner(key: string): string | undefined {
    const pending = this.owners.get(key);
    return pending ? pending.value : this.base.owner(key);
  }

  setOwner(key: string, sessionId: string): void {
    this.owners.set(key, { value: sessionId, tag: this.tag });
  }

  deleteOwner(key: string): void {
    this.owners.set(key, { value: undefined, tag: this.tag });
  }

  /** Forget what the store now holds: every change made by a sequence at or below `applied`. */
  release(applied: bigint): void {
    for (const map of [this.sessions, this.owners] as Map<string, Tagged<unknown>>[]) {
      for (const [key, pending] of map) if (pending.tag <= applied) map.delete(key);
    }
  }

  /** Changes not yet in the store (for tests and stats). */
  get size(): number {
    return this.sessions.size + this.owners.size;
  }

  entries() {
    const { sessions, owners } = this.base.entries();
    const s = new Map(sessions);
    const o = new Map(owners);
    for (const [k, p] of this.sessions) if (p.value) s.set(k, p.value);
    for (const [k, p] of this.owners) {
      if (p.value === undefined) o.delete(k);
      else o.set(k, p.value);
    }
    return { sessions: s.entries(), owners: o.entries() };
  }
}
