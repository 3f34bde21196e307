/**
 * The VRP hub of one collector replica on a shared log (JetStream): the
 * same judgements as VrpHub, made so that every replica's outcomes are
 * exactly those one collector would produce for the order the log stored
 * the events in.
 *
 * Each event is decided on this replica's state store (applied from the
 * stream by its follower) and published, with what it caused, as ONE
 * message, on the condition that the stream's last message is the one the
 * decision saw (Nats-Expected-Last-Sequence: applied in raft order, so
 * serialisable on nats-server 2.9 too, where the per-subject check is not).
 * Its position is then known before the publish, and its outcomes name it
 * as their cause. If another replica wrote first, the publish is refused:
 * catch up, decide again, retry. This serialises one session's writers
 * across replicas, and with them the invariants across sessions (one owner
 * per transport), at the price of one write in flight per replica and
 * retries under contention (BENCHMARKS.md measures it).
 *
 * An answer waits until this replica has applied its own write, so the
 * next event (of any session) is decided on a state that holds it.
 * Producer numbering comes from the shared log: a producer that reconnects
 * to another replica goes on where it stopped. Refusals are never in the
 * log; a number refused on one replica is judged again on another.
 */
import { bridges } from "../bridge/index.js";
import { ValidationError } from "../contract/errors.js";
import type { VrpEventJson } from "../contract/types.js";
import type { SessionEventsError } from "../errors.js";
import type { VrpEvent } from "../../gen/vrp/v1alpha1/vrp_event.js";
import { timestampFromDate } from "../contract/timestamp.js";
import type { DerivedState } from "../state/derived-state.js";
import type { SharedLogApplier } from "../state/shared-log-applier.js";
import { StreamMovedError, type JetStreamLog } from "../store/jetstream/jetstream-log.js";
import { DEFAULT_POLICY, type VrpPolicy } from "../vrp/audits.js";
import { VrpStateMachine } from "../vrp/machine.js";
import { ProducerHistory, REFUSED } from "./producer-history.js";
import {
  fieldRefusal,
  judgedAgain,
  sequenceGap,
  storeFailed,
  policyEntry,
  samePolicy,
  vrpGroup,
  type Accepted,
  type Deferred,
  type Duplicate,
  type Refused,
  type VrpIntake,
} from "./vrp-hub.js";

type Outcome = Accepted | Duplicate | Refused;

export class ReplicaVrpHub implements VrpIntake {
  /** Decides on the store's state (decide only: the store changes when the follower applies the log). */
  readonly machine: VrpStateMachine;
  private readonly producers: ProducerHistory;
  /** One judgement at a time on this replica: each is decided on the state its predecessor left. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly log: JetStreamLog,
    private readonly applier: SharedLogApplier,
    private readonly state: DerivedState,
    private readonly policy: VrpPolicy = DEFAULT_POLICY,
  ) {
    this.machine = new VrpStateMachine(policy, state.vrp);
    this.producers = new ProducerHistory(state.producers);
    state.onCheckpoint((applied) => this.producers.release(applied));
  }

  /** After catching up: record the policy in the log if it is not the one recorded last. */
  async recordPolicy(): Promise<{ changed: boolean; previous: VrpPolicy | undefined }> {
    await this.applier.readIndex();
    const previous = this.state.recordedPolicy;
    if (samePolicy(previous, this.policy)) return { changed: false, previous };
    await this.applier.waitApplied(await this.log.append(policyEntry(this.policy)));
    return { changed: true, previous };
  }

  /** Where a producer's numbering stands in the shared log (this replica catches up first). */
  async lastProducerSequence(producerId: string): Promise<bigint> {
    await this.applier.readIndex().catch(() => {}); // cut off: what this replica knows (a resend is still judged right)
    return this.producers.last(producerId);
  }

  accept(event: VrpEvent | undefined, producerId = "", producerSequence = 0n): Refused | Deferred {
    if (producerId && producerSequence === 0n)
      return fieldRefusal(
        "INVALID_ARGUMENT",
        "/producer_sequence",
        "minimum",
        "must be 1 or more when producer_id is set",
      );
    const checked = toJson(event);
    return this.serially(() => this.judge(event, checked, producerId, producerSequence));
  }

  refuse(error: SessionEventsError, producerId = "", producerSequence = 0n): Deferred {
    return this.serially(async () => {
      if (producerId && producerSequence !== 0n) {
        if (producerSequence > this.producers.last(producerId) + 1n) await this.applier.readIndex();
        if (producerSequence === this.producers.last(producerId) + 1n)
          this.producers.add(producerId, producerSequence, { sequence: REFUSED, digest: 0 });
      }
      return { kind: "refused", reason: error.message, code: error.code, issues: error.issues };
    });
  }

  private serially(work: () => Promise<Outcome>): Deferred {
    const outcome = this.chain.then(work, work);
    this.chain = outcome.catch(() => {});
    return { kind: "deferred", outcome };
  }

  /** Failures to reach the cluster reject (the stream ends UNAVAILABLE and the producer fails over with its events). */
  private async judge(
    event: VrpEvent | undefined,
    checked: VrpEventJson | Refused,
    producerId: string,
    producerSequence: bigint,
  ): Promise<Outcome> {
    for (;;) {
      if (producerId) {
        let last = this.producers.last(producerId);
        // A view behind the log is not a gap: another replica may have stored the numbers between.
        if (producerSequence > last + 1n) {
          await this.applier.readIndex();
          last = this.producers.last(producerId);
        }
        if (producerSequence <= last) return this.resend(producerId, producerSequence, checked);
        if (producerSequence !== last + 1n) return sequenceGap(producerSequence, last);
      }
      if (this.applier.failure) return storeFailed("state store", this.applier.failure);
      if ("kind" in checked) {
        if (producerId) this.producers.add(producerId, producerSequence, { sequence: REFUSED, digest: 0 });
        return checked;
      }
      const json = checked;
      const receivedAt = timestampFromDate(new Date());
      let derived: VrpEventJson[] = [];
      let derivedMessages: VrpEvent[] = [];
      try {
        const { sequence } = await this.log.appendAt(
          this.log.names.session(json.session_id),
          (position) => {
            derived = this.machine.decide(json, Number(position));
            derivedMessages = derived.map((d) => bridges.VrpEvent.fromJson(d));
            return vrpGroup(receivedAt, event!, producerId, producerSequence, derivedMessages, position);
          },
          this.applier.applied,
        );
        await this.applier.waitApplied(sequence);
        return { kind: "accepted", sequence, derived, derivedMessages, durable: Promise.resolve() };
      } catch (e) {
        if (!(e instanceof StreamMovedError)) throw e;
        // Another replica wrote first: catch up with it, then decide again.
        await this.applier.waitApplied(e.actual ?? (await this.log.refresh()));
      }
    }
  }

  /** A number already judged: the same event again is a duplicate, acknowledged where the log holds it. */
  private resend(producerId: string, producerSequence: bigint, checked: VrpEventJson | Refused): Duplicate | Refused {
    const json = "kind" in checked ? undefined : checked;
    return judgedAgain(this.producers.get(producerId, producerSequence), producerSequence, json, Promise.resolve());
  }
}

/** The event as contract JSON, or why it is refused. */
function toJson(event: VrpEvent | undefined): VrpEventJson | Refused {
  if (!event) return fieldRefusal("INVALID_ARGUMENT", "/event", "required", "is required");
  try {
    return bridges.VrpEvent.toJson(event);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    return {
      kind: "refused",
      reason: e.message,
      code: e.code,
      issues: e.issues.map((i) => ({ ...i, path: `/event${i.path}` })),
    };
  }
}
