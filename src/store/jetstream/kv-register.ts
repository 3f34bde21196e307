/**
 * KvRegister: compare-and-set over a KV bucket, for invariants that span
 * sessions (one owner per transport): read a key with its revision, then
 * write only if the revision is still the one read. Every replica sees the
 * same revisions, so two replicas can never both win. A create (revision 0)
 * is the server's create-only put; an update goes through
 * conditional-publish.ts, because the KV update's own per-key check is not
 * serialisable on replicated buckets before nats-server 2.10.
 */
import { randomUUID } from "node:crypto";
import { JetStreamApiError, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { publishIfSubjectAt, SubjectMovedError, type SerialisationMode } from "./conditional-publish.js";
import { WRONG_LAST_SEQUENCE } from "./publish.js";
import { idToken } from "./names.js";

export interface Versioned {
  readonly value: Uint8Array;
  /** 0n: the key has no value. */
  readonly revision: bigint;
}

export type CasResult =
  | { readonly ok: true; readonly revision: bigint }
  | { readonly ok: false; readonly current: Versioned };

export class KvRegister {
  constructor(
    private readonly kv: KV,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly bucket: string,
    private readonly mode: SerialisationMode,
    private readonly deadlineMs = 10_000,
  ) {}

  /** The value and its revision (revision 0n and an empty value when absent). */
  async get(key: string): Promise<Versioned> {
    const entry = await this.kv.get(idToken(key));
    if (entry?.operation !== "PUT") return { value: new Uint8Array(0), revision: entry ? BigInt(entry.revision) : 0n };
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
      const ack = await publishIfSubjectAt(
        { js: this.js, jsm: this.jsm, stream: `KV_${this.bucket}`, mode: this.mode, deadlineMs: this.deadlineMs },
        {
          subject: `$KV.${this.bucket}.${k}`,
          body: value,
          headers: undefined,
          msgId: randomUUID(),
          expectedLastSubjectSequence: expectedRevision,
        },
      );
      return { ok: true, revision: BigInt(ack.seq) };
    } catch (e) {
      if (e instanceof SubjectMovedError || (e instanceof JetStreamApiError && e.code === WRONG_LAST_SEQUENCE))
        return { ok: false, current: await this.get(key) };
      throw e;
    }
  }
}
