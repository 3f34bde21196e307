/**
 * KvRegister: compare-and-set over a KV bucket, for invariants that span
 * sessions (one owner per transport): read a key with its revision, then
 * write only if the revision is still the one read. Every replica sees the
 * same revisions, so two replicas can never both win.
 */
import { JetStreamApiError } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { WRONG_LAST_SEQUENCE } from "./publish.js";
import { idToken } from "./names.js";

export interface Versioned {
  readonly value: Uint8Array;
  /** 0n: the key has no value. */
  readonly revision: bigint;
}

export type CasResult = { readonly ok: true; readonly revision: bigint } | { readonly ok: false; readonly current: Versioned };

export class KvRegister {
  constructor(private readonly kv: KV) {}

  /** The value and its revision (revision 0n and an empty value when absent). */
  async get(key: string): Promise<Versioned> {
    const entry = await this.kv.get(idToken(key));
    if (!entry || entry.operation !== "PUT") return { value: new Uint8Array(0), revision: entry ? BigInt(entry.revision) : 0n };
    return { value: entry.value, revision: BigInt(entry.revision) };
  }

  /**
   * Write `value` if the key is still at `expectedRevision` (0n: has no
   * value). On a conflict, the current value and revision come back: decide
   * again from them and retry.
   */
  async compareAndSet(key: string, value: Uint8Array, expectedRevision: bigint): Promise<CasResult> {
    const k = idToken(key);
    try {
      if (expectedRevision === 0n) return { ok: true, revision: BigInt(await this.kv.create(k, value)) };
      return { ok: true, revision: BigInt(await this.kv.update(k, value, Number(expectedRevision))) };
    } catch (e) {
      if (e instanceof JetStreamApiError && e.code === WRONG_LAST_SEQUENCE) return { ok: false, current: await this.get(key) };
      throw e;
    }
  }
}
