/**
 * The VRP hub's tables in the state store: each session's machine state, the
 * owner of each transport, and what each named producer has stored (its
 * producer_sequence -> log sequence and content digest, and its last stored
 * number), so a resend of any stored event, however old, is answered.
 */
import type { VrpSessionState } from "../contract/vrp-vocabulary.js";
import type { SessionSnapshot, VrpStateAccess } from "../vrp/machine.js";
import type { StateStore } from "./state-store.js";

type StoredSnapshot = [
  state: string,
  transport: string | null,
  node: string | null,
  switches: number[],
  troubledSince: number | null,
  windowAudited: boolean,
];

/** The machine's state as the state store holds it: what the log's records, applied in order, made it. */
export class StoredVrpState implements VrpStateAccess {
  constructor(private readonly store: StateStore) {}

  session(sessionId: string): SessionSnapshot | undefined {
    const s = this.store.get<StoredSnapshot>("vrpSessions", sessionId);
    return s && fromStored(s);
  }

  putSession(sessionId: string, s: SessionSnapshot): void {
    this.store.put("vrpSessions", sessionId, [
      s.state,
      s.activeTransport ?? null,
      s.activeNode ?? null,
      [...s.switches],
      s.troubledSince ?? null,
      s.windowAudited,
    ] satisfies StoredSnapshot);
  }

  owner(key: string): string | undefined {
    return this.store.get<string>("owners", key);
  }

  setOwner(key: string, sessionId: string): void {
    this.store.put("owners", key, sessionId);
  }

  deleteOwner(key: string): void {
    this.store.remove("owners", key);
  }

  entries() {
    const sessions = [...this.store.range<StoredSnapshot>("vrpSessions", {})].map(
      ({ key, value }) => [key as string, fromStored(value)] as [string, SessionSnapshot],
    );
    const owners = [...this.store.range<string>("owners", {})].map(
      ({ key, value }) => [key as string, value] as [string, string],
    );
    return { sessions, owners };
  }
}

function fromStored([state, transport, node, switches, troubledSince, windowAudited]: StoredSnapshot): SessionSnapshot {
  return {
    state: state as VrpSessionState,
    activeTransport: transport ?? undefined,
    activeNode: node ?? undefined,
    switches: [...switches],
    troubledSince: troubledSince ?? undefined,
    windowAudited,
  };
}

/** What a producer stored under one of its numbers. */
export interface StoredProducerEntry {
  /** Log sequence of the event. */
  readonly sequence: bigint;
  readonly digest: number;
}

/** Producers' numbers, as the log's records stored them (refusals are not in the log, so not here). */
export class StoredProducers {
  constructor(private readonly store: StateStore) {}

  last(producerId: string): bigint {
    return BigInt(this.store.get<number>("producerLast", producerId) ?? 0);
  }

  get(producerId: string, producerSequence: bigint): StoredProducerEntry | undefined {
    const e = this.store.get<[number, number]>("producers", [producerId, Number(producerSequence)]);
    return e && { sequence: BigInt(e[0]), digest: e[1] };
  }

  add(producerId: string, producerSequence: bigint, entry: StoredProducerEntry): void {
    this.store.put("producers", [producerId, Number(producerSequence)], [Number(entry.sequence), entry.digest]);
    if (producerSequence > this.last(producerId)) this.store.put("producerLast", producerId, Number(producerSequence));
  }
}
