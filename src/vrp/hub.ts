/**
 * The VRP hub: accepts producer events into the durable log, runs them
 * through the state machine in log order, and stores what they caused
 * (STATE_CHANGE, AUDIT_EVENT) right after them. It knows nothing of gRPC.
 *
 * Order: validation, the state machine and the appends happen in one
 * synchronous step, so the machine sees events in exactly the log's order,
 * and a restart that replays the log rebuilds the same states.
 *
 * Resume without duplicates: a producer that names itself (producer_id) and
 * numbers its events (producer_sequence) can resend what was not
 * acknowledged; an event at or below the last accepted number is answered as
 * already accepted and not stored again.
 */
import { bridges } from "../bridge/index.js";
import { ValidationError } from "../contract/errors.js";
import type { VrpEventJson } from "../contract/types.js";
import { LogEntry } from "../../gen/sessionevents/log/v1/log_entry.js";
import type { VrpEvent } from "../../gen/vrp/v1alpha1/vrp_event.js";
import type { EventLog } from "../store/event-log.js";
import { timestampFromDate } from "../contract/timestamp.js";
import { DEFAULT_POLICY, type VrpPolicy } from "./audits.js";
import { VrpStateMachine } from "./machine.js";

export type Accepted = {
  readonly kind: "accepted";
  /** Log sequence of the event. */
  readonly sequence: bigint;
  /** What it caused, in contract JSON, already in the log after it. */
  readonly derived: readonly VrpEventJson[];
  /** The same, as protobuf messages (converted once, for the log and the answers). */
  readonly derivedMessages: readonly VrpEvent[];
  /** Resolves once the event and what it caused are durable. */
  readonly durable: Promise<void>;
};
/** Already accepted: `durable` resolves once the original is on disk; `sequence` is where it is (0: accepted too long ago to remember). */
export type Duplicate = { readonly kind: "duplicate"; readonly sequence: bigint; readonly durable: Promise<void> };
export type Refused = { readonly kind: "refused"; readonly reason: string };

/** How many recent events per producer are remembered, to answer a resend with its own position. */
const REMEMBERED = 4096;

interface ProducerState {
  /** Highest producer_sequence accepted. */
  last: bigint;
  /** Recent producer_sequence -> where it was stored, and when it is durable. */
  readonly recent: Map<bigint, { sequence: bigint; durable: Promise<void> }>;
}

export class VrpHub {
  readonly machine: VrpStateMachine;
  private readonly producers = new Map<string, ProducerState>();

  constructor(
    private readonly log: EventLog,
    policy: VrpPolicy = DEFAULT_POLICY,
  ) {
    this.machine = new VrpStateMachine(policy);
  }

  /** Rebuild from one log entry (at start-up, in log order). Derived entries are recomputed, not read. */
  replay(entry: LogEntry, sequence: bigint): void {
    if (entry.entry?.$case !== "vrpReceived") return;
    const { event, producerId, producerSequence } = entry.entry.value;
    this.machine.apply(bridges.VrpEvent.toJson(event!), Number(sequence));
    if (producerId) this.remember(producerId, producerSequence, sequence, Promise.resolve());
  }

  /** The last producer_sequence accepted from a producer (0 if none): where a restarted producer goes on. */
  lastProducerSequence(producerId: string): bigint {
    return this.producers.get(producerId)?.last ?? 0n;
  }

  private remember(producerId: string, producerSequence: bigint, sequence: bigint, durable: Promise<void>): void {
    let state = this.producers.get(producerId);
    if (!state) this.producers.set(producerId, (state = { last: 0n, recent: new Map() }));
    state.last = producerSequence;
    state.recent.set(producerSequence, { sequence, durable });
    if (state.recent.size > REMEMBERED) state.recent.delete(state.recent.keys().next().value!);
  }

  accept(event: VrpEvent | undefined, producerId = "", producerSequence = 0n): Accepted | Duplicate | Refused {
    if (!event) return { kind: "refused", reason: "/event: is required [required]" };
    let json: VrpEventJson;
    try {
      json = bridges.VrpEvent.toJson(event);
    } catch (e) {
      if (e instanceof ValidationError) return { kind: "refused", reason: e.message };
      throw e;
    }
    if (this.log.failure) return { kind: "refused", reason: `the event log has failed; nothing more is stored until the collector restarts (${this.log.failure.message})` };
    if (producerId) {
      if (producerSequence === 0n) return { kind: "refused", reason: "/producer_sequence: must be 1 or more when producer_id is set [minimum]" };
      const last = this.lastProducerSequence(producerId);
      if (producerSequence <= last) {
        const known = this.producers.get(producerId)?.recent.get(producerSequence);
        return { kind: "duplicate", sequence: known?.sequence ?? 0n, durable: known?.durable ?? Promise.resolve() };
      }
      if (producerSequence !== last + 1n) {
        return { kind: "refused", reason: `/producer_sequence: ${producerSequence} leaves a gap: the next expected is ${last + 1n} [sequence_gap]` };
      }
    }
    const receivedAt = timestampFromDate(new Date());
    const sequence = this.log.nextSequence;
    const derived = this.machine.apply(json, Number(sequence));
    const derivedMessages = derived.map((d) => bridges.VrpEvent.fromJson(d));
    const appends = [
      this.log.append(LogEntry.encode({ receivedAt, entry: { $case: "vrpReceived", value: { event, producerId, producerSequence } } }).finish()),
      ...derivedMessages.map((d) =>
        this.log.append(LogEntry.encode({ receivedAt, entry: { $case: "vrpDerived", value: { event: d, causeSequence: sequence } } }).finish()),
      ),
    ];
    const durable = Promise.all(appends).then(() => undefined);
    durable.catch(() => {}); // the stream that sent it reports the failure
    if (producerId) this.remember(producerId, producerSequence, sequence, durable);
    return { kind: "accepted", sequence, derived, derivedMessages, durable };
  }
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
