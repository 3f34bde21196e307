/**
 * What each named producer has sent: for every producer_sequence judged,
 * where the event was stored (or that it was refused) and a digest of its
 * content. It answers a resend of any stored event, however old, with its
 * real log position, and tells a resend from a different event under the
 * same number.
 *
 * Stored numbers live in the state store (StoredProducers: what the log's
 * records say); this layer adds what the store does not have yet: numbers
 * accepted but not yet applied, and refusals, which are never in the log.
 * A refused number is simply one without a stored entry.
 */
import type { StoredProducerEntry, StoredProducers } from "../state/vrp-tables.js";

/** A number that was judged and refused: it is consumed, nothing was stored. */
export const REFUSED = 0n;

export type ProducerEntry = StoredProducerEntry;

export class ProducerHistory {
  /** The last number judged, per producer, while it is above the store's (in flight, or refused). */
  private readonly judged = new Map<string, bigint>();
  /** Accepted numbers the store has not applied yet. */
  private readonly inFlight = new Map<string, ProducerEntry>();

  constructor(private readonly stored: StoredProducers) {}

  /** The last producer_sequence judged (0 if none): where a restarted producer goes on. */
  last(producerId: string): bigint {
    const stored = this.stored.last(producerId);
    const judged = this.judged.get(producerId);
    return judged !== undefined && judged > stored ? judged : stored;
  }

  /** The stored entry under a number (undefined: never judged, or refused). */
  get(producerId: string, producerSequence: bigint): ProducerEntry | undefined {
    return this.inFlight.get(key(producerId, producerSequence)) ?? this.stored.get(producerId, producerSequence);
  }

  /** Record the judgement of `producerSequence`, which must be above the last one. */
  add(producerId: string, producerSequence: bigint, entry: ProducerEntry): void {
    const last = this.last(producerId);
    if (producerSequence <= last)
      throw new RangeError(`producer ${producerId}: ${producerSequence} is not above ${last}`);
    this.judged.set(producerId, producerSequence);
    if (entry.sequence !== REFUSED) this.inFlight.set(key(producerId, producerSequence), entry);
  }

  /** Forget what the store now holds (log sequences at or below `applied`). */
  release(applied: bigint): void {
    for (const [k, entry] of this.inFlight) if (entry.sequence <= applied) this.inFlight.delete(k);
    for (const [id, judged] of this.judged) if (this.stored.last(id) >= judged) this.judged.delete(id);
  }
}

const key = (producerId: string, producerSequence: bigint) => `${producerSequence}\u0000${producerId}`;
