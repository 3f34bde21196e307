/**
 * The VRP hub: accepts producer events into the durable log, runs them
 * through the state machine in log order, and stores each event together
 * with what it caused (STATE_CHANGE, AUDIT_EVENT) as one atomic group: no
 * crash can leave a cause without its outcomes. It knows nothing of gRPC.
 *
 * Order: validation, the state machine and the append happen in one
 * synchronous step, so the machine sees events in exactly the log's order.
 * The hub decides with the state store's state (what durable records made it,
 * src/state) plus what it accepted that the store has not applied yet
 * (PendingVrpState); it never writes the store: the store applies each
 * record, with its stored outcomes, once durable. Replay restores, never
 * recomputes (VrpStateMachine.restore), so a policy changed since (or a
 * newer machine) cannot rewrite history. The policy in force is itself
 * recorded in the log whenever it changes (recordPolicy).
 *
 * Producers: a producer that names itself (producer_id) numbers its events
 * (producer_sequence, counting up by one). Every number judged is consumed,
 * refused or not, so what is pipelined behind a refused event is judged on
 * its own. A resend of a stored event, however old, is acknowledged with its
 * real log sequence; the same number with different content is refused
 * (`conflict`).
 */
import type { ErrorCode, SessionEventsError, ValidationIssue } from "../errors.js";
import { bridges } from "../bridge/index.js";
import { ValidationError } from "../contract/errors.js";
import type { VrpEventJson } from "../contract/types.js";
import { LogEntry } from "../../gen/sessionevents/log/v1/log_entry.js";
import type { VrpEvent } from "../../gen/vrp/v1alpha1/vrp_event.js";
import type { EventLog } from "../store/event-log.js";
import { timestampFromDate } from "../contract/timestamp.js";
import { DEFAULT_POLICY, type VrpPolicy } from "../vrp/audits.js";
import type { DerivedState } from "../state/derived-state.js";
import { vrpDigest as digest } from "../vrp/digest.js";
import { VrpStateMachine } from "../vrp/machine.js";
import { PendingVrpState } from "../vrp/pending-state.js";
import { ProducerHistory, REFUSED, type ProducerEntry } from "./producer-history.js";
import { vrpDerivedEntry, vrpReceivedEntry } from "./vrp-log-entries.js";

export type Accepted = {
  readonly kind: "accepted";
  /** Log sequence of the event. */
  readonly sequence: bigint;
  /** What it caused, in contract JSON, stored in the same atomic group. */
  readonly derived: readonly VrpEventJson[];
  /** The same, as protobuf messages (converted once, for the log and the answers). */
  readonly derivedMessages: readonly VrpEvent[];
  /** Resolves once the event and what it caused are durable. */
  readonly durable: Promise<void>;
};
/** Already stored: `durable` resolves once the original is on disk; `sequence` is where it is. */
export type Duplicate = { readonly kind: "duplicate"; readonly sequence: bigint; readonly durable: Promise<void> };
/** Refused: `reason` for a human, `code` (a gRPC status name) and `issues` (each field and rule) for a program. */
export type Refused = {
  readonly kind: "refused";
  readonly reason: string;
  readonly code: ErrorCode;
  readonly issues: readonly ValidationIssue[];
};

/** Judged later (a shared log: after this replica has caught up and the stream has ordered the write). */
export type Deferred = { readonly kind: "deferred"; readonly outcome: Promise<Accepted | Duplicate | Refused> };

/** What the StreamEvents service hands producer events to: this hub, or a replica's on a shared log. */
export interface VrpIntake {
  accept(
    event: VrpEvent | undefined,
    producerId?: string,
    producerSequence?: bigint,
  ): Accepted | Duplicate | Refused | Deferred;
  refuse(error: SessionEventsError, producerId?: string, producerSequence?: bigint): Refused | Deferred;
  /** Where a producer's numbering stands (a replica first catches up with the shared log). */
  lastProducerSequence(producerId: string): bigint | Promise<bigint>;
}

/** The refusal of a producer number past the next expected one (`last` + 1). */
export function sequenceGap(producerSequence: bigint, last: bigint): Refused {
  return fieldRefusal(
    "FAILED_PRECONDITION",
    "/producer_sequence",
    "sequence_gap",
    `${producerSequence} leaves a gap: the next expected is ${last + 1n}`,
  );
}

/** The refusal of everything while a store has failed (it is not retried until a restart). */
export function storeFailed(store: "event log" | "state store", failure: Error): Refused {
  return {
    kind: "refused",
    reason: `the ${store} has failed; nothing more is stored until the collector restarts (${failure.message})`,
    code: "UNAVAILABLE",
    issues: [],
  };
}

/** A refusal about one field; its reason reads "/path: message [rule]". */
export function fieldRefusal(code: ErrorCode, path: string, rule: string, message: string): Refused {
  return { kind: "refused", reason: `${path}: ${message} [${rule}]`, code, issues: [{ path, rule, message }] };
}

export class VrpHub implements VrpIntake {
  /** The machine the hub decides with (the store's state plus what is pending). */
  readonly machine: VrpStateMachine;
  private readonly pending: PendingVrpState;
  private readonly producers: ProducerHistory;
  /** Events stored but not yet durable, by producer and number: a resend waits for them. */
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(
    private readonly log: EventLog,
    private readonly state: DerivedState,
    private readonly policy: VrpPolicy = DEFAULT_POLICY,
  ) {
    this.pending = new PendingVrpState(state.vrp);
    this.machine = new VrpStateMachine(policy, this.pending);
    this.producers = new ProducerHistory(state.producers);
    state.onCheckpoint((applied) => {
      this.pending.release(applied);
      this.producers.release(applied);
    });
  }

  /**
   * After replay: record the policy in the log if it is not the one recorded
   * last. Returns the previous policy when it changed (for the operator's log).
   */
  async recordPolicy(): Promise<{ changed: boolean; previous: VrpPolicy | undefined }> {
    const previous = this.state.recordedPolicy;
    if (samePolicy(previous, this.policy)) return { changed: false, previous };
    await this.log.append(policyEntry(this.policy));
    return { changed: true, previous };
  }

  /** The last producer_sequence judged from a producer (0 if none): where a restarted producer goes on. */
  lastProducerSequence(producerId: string): bigint {
    return this.producers.last(producerId);
  }

  accept(event: VrpEvent | undefined, producerId = "", producerSequence = 0n): Accepted | Duplicate | Refused {
    if (producerId && producerSequence === 0n)
      return fieldRefusal(
        "INVALID_ARGUMENT",
        "/producer_sequence",
        "minimum",
        "must be 1 or more when producer_id is set",
      );
    let json: VrpEventJson | undefined;
    let invalid: Refused | undefined;
    if (!event) invalid = fieldRefusal("INVALID_ARGUMENT", "/event", "required", "is required");
    else {
      try {
        json = bridges.VrpEvent.toJson(event);
      } catch (e) {
        if (!(e instanceof ValidationError)) throw e;
        invalid = {
          kind: "refused",
          reason: e.message,
          code: e.code,
          issues: e.issues.map((i) => ({ ...i, path: `/event${i.path}` })),
        };
      }
    }
    if (producerId) {
      const last = this.producers.last(producerId);
      if (producerSequence <= last) return this.resend(producerId, producerSequence, json);
      if (producerSequence !== last + 1n) {
        return sequenceGap(producerSequence, last);
      }
    }
    if (this.log.failure) return storeFailed("event log", this.log.failure);
    if (this.state.failure) return storeFailed("state store", this.state.failure);
    if (invalid !== undefined || json === undefined) {
      // Judged and refused: the number is consumed, so what follows it is judged on its own.
      if (producerId) this.producers.add(producerId, producerSequence, { sequence: REFUSED, digest: 0 });
      return invalid ?? fieldRefusal("INVALID_ARGUMENT", "/event", "required", "is required");
    }
    const receivedAt = timestampFromDate(new Date());
    const decided = json;
    const eventDigest = producerId ? digest(json) : 0; // the history keeps it to judge a resend
    let sequence = 0n;
    let derived: VrpEventJson[] = [];
    let derivedMessages: VrpEvent[] = [];
    // The log names the position when it takes the group (the embedded log: now, synchronously, so the
    // machine sees events in exactly the log's order); the outcomes name it as their cause.
    const durable = this.log
      .appendGroup((first) => {
        sequence = first;
        this.pending.tag = first; // what this event changes is pending until the store applies `first`
        derived = this.machine.apply(decided, Number(first));
        derivedMessages = derived.map((d) => bridges.VrpEvent.fromJson(d));
        const records = vrpGroup(receivedAt, event!, producerId, producerSequence, derivedMessages, first);
        this.state.prepare(first, { event: decided, derived, producerId, producerSequence, digest: eventDigest });
        return records;
      })
      .then(() => undefined);
    durable.catch(() => {}); // the stream that sent it reports the failure
    if (producerId) {
      this.producers.add(producerId, producerSequence, { sequence, digest: eventDigest });
      const key = `${producerSequence}\u0000${producerId}`;
      this.inFlight.set(key, durable);
      void durable.finally(() => this.inFlight.delete(key)).catch(() => {});
    }
    return { kind: "accepted", sequence, derived, derivedMessages, durable };
  }

  /**
   * A request refused before its event reached the hub (oversized, malformed):
   * judged all the same, so its number is consumed like any refusal's and
   * what is pipelined behind it is judged on its own.
   */
  refuse(error: SessionEventsError, producerId = "", producerSequence = 0n): Refused {
    if (producerId && producerSequence !== 0n && producerSequence === this.producers.last(producerId) + 1n) {
      this.producers.add(producerId, producerSequence, { sequence: REFUSED, digest: 0 });
    }
    return { kind: "refused", reason: error.message, code: error.code, issues: error.issues };
  }

  /** A number already judged: the same event again is a duplicate; anything else is refused. */
  private resend(producerId: string, producerSequence: bigint, json: VrpEventJson | undefined): Duplicate | Refused {
    const durable = this.inFlight.get(`${producerSequence}\u0000${producerId}`) ?? Promise.resolve();
    return judgedAgain(this.producers.get(producerId, producerSequence), producerSequence, json, durable);
  }
}

/**
 * The verdict on a producer number judged before (`known`: what the history
 * holds for it): the same event again is a duplicate of the stored one,
 * acknowledged once `durable`; a different event, or a number refused
 * before, is refused. Both hubs (one collector, a replica) answer so.
 */
export function judgedAgain(
  known: ProducerEntry | undefined,
  producerSequence: bigint,
  json: VrpEventJson | undefined,
  durable: Promise<void>,
): Duplicate | Refused {
  if (!known || known.sequence === REFUSED) {
    return fieldRefusal(
      "FAILED_PRECONDITION",
      "/producer_sequence",
      "refused_earlier",
      `${producerSequence} was judged before and refused; nothing is stored under it (send new events with new numbers)`,
    );
  }
  if (json === undefined || digest(json) !== known.digest) {
    return fieldRefusal(
      "ALREADY_EXISTS",
      "/producer_sequence",
      "conflict",
      `${producerSequence} is already stored at log sequence ${known.sequence} with different content`,
    );
  }
  return { kind: "duplicate", sequence: known.sequence, durable };
}

/** Whether the policy recorded last (if any) is `policy`: then there is nothing to record. */
export function samePolicy(recorded: VrpPolicy | undefined, policy: VrpPolicy): boolean {
  return (
    recorded !== undefined &&
    recorded.maxRecoveryWindowMs === policy.maxRecoveryWindowMs &&
    recorded.maxSwitchesPerMinute === policy.maxSwitchesPerMinute
  );
}

/** The log entry that records the policy in force. */
export function policyEntry(policy: VrpPolicy): Uint8Array {
  const value = {
    maxRecoveryWindowMs: BigInt(policy.maxRecoveryWindowMs),
    maxSwitchesPerMinute: policy.maxSwitchesPerMinute,
  };
  return LogEntry.encode({
    receivedAt: timestampFromDate(new Date()),
    entry: { $case: "vrpPolicyChanged", value },
  }).finish();
}

/** One atomic group: the event, then what it caused (each naming the event's position as its cause). */
export function vrpGroup(
  receivedAt: ReturnType<typeof timestampFromDate>,
  event: VrpEvent,
  producerId: string,
  producerSequence: bigint,
  derivedMessages: readonly VrpEvent[],
  causeSequence: bigint,
): Uint8Array[] {
  return [
    vrpReceivedEntry(receivedAt, event, producerId, producerSequence),
    ...derivedMessages.map((d) => vrpDerivedEntry(receivedAt, d, causeSequence)),
  ];
}

/** A VRP event of a log entry (received or derived), if it holds one. */
export function vrpEventOf(entry: LogEntry): VrpEvent | undefined {
  switch (entry.entry?.$case) {
    case "vrpReceived":
    case "vrpDerived":
      return entry.entry.value.event;
    default:
      return undefined;
  }
}
