/**
 * What each named producer has sent: for every producer_sequence judged,
 * where the event was stored (or that it was refused) and a digest of its
 * content. It answers a resend of any stored event, however old, with its
 * real log position, and tells a resend from a different event under the
 * same number.
 *
 * Compact on purpose (three typed arrays per producer, 20 bytes an event):
 * a producer's numbers count up by one, so the entries are in order and a
 * lookup is an index.
 */

/** A number that was judged and refused: it is consumed, nothing was stored. */
export const REFUSED = 0n;

export interface ProducerEntry {
  /** Log sequence of the stored event, or REFUSED. */
  readonly sequence: bigint;
  readonly digest: number;
}

class Producer {
  /** producer_sequence of entry 0. */
  base = 0n;
  length = 0;
  private logSequences = new Float64Array(16);
  private digests = new Uint32Array(16);

  get last(): bigint {
    return this.length === 0 ? 0n : this.base + BigInt(this.length - 1);
  }

  add(producerSequence: bigint, entry: ProducerEntry): void {
    if (this.length === 0) this.base = producerSequence;
    // Numbers a restart did not see (refusals are not stored) are filled as refused.
    while (this.base + BigInt(this.length) < producerSequence) this.push(REFUSED, 0);
    this.push(entry.sequence, entry.digest);
  }

  private push(sequence: bigint, digest: number): void {
    if (this.length === this.digests.length) {
      const grow = <T extends Float64Array | Uint32Array>(a: T, make: (n: number) => T) => {
        const b = make(a.length * 2);
        b.set(a);
        return b;
      };
      this.logSequences = grow(this.logSequences, (n) => new Float64Array(n));
      this.digests = grow(this.digests, (n) => new Uint32Array(n));
    }
    // Log sequences stay far below 2^53: exact in a double.
    this.logSequences[this.length] = Number(sequence);
    this.digests[this.length] = digest;
    this.length++;
  }

  get(producerSequence: bigint): ProducerEntry | undefined {
    const i = producerSequence - this.base;
    if (this.length === 0 || i < 0n || i >= BigInt(this.length)) return undefined;
    return { sequence: BigInt(this.logSequences[Number(i)]!), digest: this.digests[Number(i)]! };
  }
}

export class ProducerHistory {
  private readonly producers = new Map<string, Producer>();

  /** The last producer_sequence judged (0 if none): where a restarted producer goes on. */
  last(producerId: string): bigint {
    return this.producers.get(producerId)?.last ?? 0n;
  }

  get(producerId: string, producerSequence: bigint): ProducerEntry | undefined {
    return this.producers.get(producerId)?.get(producerSequence);
  }

  /** Record the judgement of `producerSequence`, which must be above the last one. */
  add(producerId: string, producerSequence: bigint, entry: ProducerEntry): void {
    let producer = this.producers.get(producerId);
    if (!producer) this.producers.set(producerId, (producer = new Producer()));
    if (producerSequence <= producer.last) throw new RangeError(`producer ${producerId}: ${producerSequence} is not above ${producer.last}`);
    producer.add(producerSequence, entry);
  }
}
