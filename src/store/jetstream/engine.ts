/**
 * JetStreamEngine: everything a collector replica needs on NATS, opened (and
 * created when missing) in one step: the log of each family, the event_id
 * idempotency keys, and a compare-and-set register for cross-session
 * invariants. Existing streams and buckets with an incompatible
 * configuration are refused, naming each difference.
 */
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { SessionEventsError } from "../../errors.js";
import { serialisationMode, type SerialisationMode } from "./conditional-publish.js";
import { connectNats, type NatsConnectOptions } from "./connect.js";
import { IdempotencyKeys } from "./idempotency.js";
import { JetStreamLog } from "./jetstream-log.js";
import { KvRegister } from "./kv-register.js";
import { bucketName, DEFAULT_PREFIX, familyNames } from "./names.js";
import { checkBucket, ensureStream } from "./stream-config.js";

export const FAMILIES = ["sessions", "vrp"] as const;
export type Family = (typeof FAMILIES)[number];

export interface JetStreamEngineOptions extends NatsConnectOptions {
  /** Scopes every stream, subject and bucket. Default "session-events". */
  readonly prefix?: string;
  /** Replicas of every stream and bucket (1 on one server; 3 or 5 on a cluster). Default 1. */
  readonly replicas?: number;
  /** Nats-Msg-Id de-duplication window. Default 120000 ms (JetStream's own default). */
  readonly duplicateWindowMs?: number;
  /** How long an event_id stays claimed (0: forever; set it to the log's retention). Default 0. */
  readonly idempotencyTtlMs?: number;
  /** How long an append retries an unacknowledged publish. Default 10000 ms. */
  readonly publishDeadlineMs?: number;
  /** Force how conditional appends are checked (default: by the server's version and the replicas). */
  readonly serialisation?: SerialisationMode;
}

export class JetStreamEngine {
  private constructor(
    readonly connection: NatsConnection,
    readonly logs: Readonly<Record<Family, JetStreamLog>>,
    readonly idempotency: IdempotencyKeys,
    /** One owner per transport, and any other invariant across sessions. */
    readonly owners: KvRegister,
    /** How conditional appends are checked on these servers (conditional-publish.ts). */
    readonly serialisation: SerialisationMode,
  ) {}

  static async open(options: JetStreamEngineOptions): Promise<JetStreamEngine> {
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    const replicas = options.replicas ?? 1;
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) {
      throw new SessionEventsError(`replicas: must be an integer from 1 to 5 (got ${replicas})`, {
        code: "INVALID_ARGUMENT",
      });
    }
    const nc = await connectNats(options);
    try {
      const jsm = await jetstreamManager(nc);
      const js = jetstream(nc);
      const serialisation = options.serialisation ?? serialisationMode(nc.info?.version, replicas);
      const logs = {} as Record<Family, JetStreamLog>;
      for (const family of FAMILIES) {
        const names = familyNames(prefix, family);
        await ensureStream(jsm, {
          name: names.stream,
          subjects: names.subjects,
          replicas,
          duplicateWindowMs: options.duplicateWindowMs ?? 120_000,
        });
        logs[family] = new JetStreamLog(js, jsm, names, {
          publishDeadlineMs: options.publishDeadlineMs,
          serialisation,
        });
        await logs[family].refresh({ justEnsured: true });
      }
      const ids = await openBucket(nc, jsm, bucketName(prefix, "event_ids"), replicas, options.idempotencyTtlMs ?? 0);
      const ownersBucket = bucketName(prefix, "owners");
      const owners = await openBucket(nc, jsm, ownersBucket, replicas, 0);
      return new JetStreamEngine(
        nc,
        logs,
        new IdempotencyKeys(ids),
        new KvRegister(owners, js, jsm, ownersBucket, serialisation),
        serialisation,
      );
    } catch (e) {
      await nc.close().catch(() => {});
      throw e;
    }
  }

  /** Finish pending appends, stop every reader, close the connection. */
  async close(): Promise<void> {
    await Promise.all(Object.values(this.logs).map((l) => l.close()));
    await this.connection.drain().catch(() => this.connection.close());
  }
}

async function openBucket(
  nc: NatsConnection,
  jsm: JetStreamManager,
  bucket: string,
  replicas: number,
  ttlMs: number,
): Promise<KV> {
  const kvm = new Kvm(nc);
  const spec = { bucket, replicas, ttlMs };
  if (await checkBucket(jsm, spec)) return kvm.open(bucket);
  try {
    return await kvm.create(bucket, { replicas, history: 1, ttl: ttlMs });
  } catch (e) {
    // Another replica created it at the same moment: compare what it made.
    if (await checkBucket(jsm, spec)) return kvm.open(bucket);
    throw e;
  }
}
