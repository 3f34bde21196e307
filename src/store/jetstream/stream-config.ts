/**
 * The streams and buckets this engine needs, created when missing and
 * compared when present: settings that change what an acknowledgement or a
 * position means are refused with each difference named (never rewritten
 * behind an operator's back). Retention limits (max_age, max_bytes) are the
 * operator's choice and are not compared.
 */
import {
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import type { ValidationIssue } from "../../errors.js";
import { IncompatibleConfigError, JetStreamUnavailableError } from "./errors.js";
import { isStreamNotFound, withTransientRetries } from "./publish.js";

const NANOS_PER_MS = 1_000_000;

export interface StreamSpec {
  readonly name: string;
  readonly subjects: string;
  readonly replicas: number;
  readonly duplicateWindowMs: number;
}

/** The settings compared, with what this engine needs of each. */
function required(spec: StreamSpec): [keyof StreamConfig, unknown, string][] {
  return [
    ["subjects", [spec.subjects], "its subjects"],
    ["num_replicas", spec.replicas, "replicas (--nats-stream-replicas)"],
    ["storage", StorageType.File, "storage (file: a log must outlive a restart)"],
    ["retention", RetentionPolicy.Limits, "retention (limits: a log, not a work queue)"],
    ["max_msgs_per_subject", -1, "max_msgs_per_subject (a session keeps all its records)"],
    ["duplicate_window", spec.duplicateWindowMs * NANOS_PER_MS, "duplicate_window (Nats-Msg-Id de-duplication)"],
    ["deny_delete", true, "deny_delete (records are never deleted one by one)"],
  ];
}

export function differences(actual: Partial<StreamConfig>, spec: StreamSpec): ValidationIssue[] {
  return required(spec)
    .filter(([key, want]) => JSON.stringify(actual[key] ?? null) !== JSON.stringify(want))
    .map(([key, want, what]) => ({
      path: `${spec.name}.${key}`,
      rule: "stream_config",
      message: `${what} is ${JSON.stringify(actual[key] ?? null)}, needs ${JSON.stringify(want)}`,
    }));
}

/** Create the stream if missing; refuse if it exists with another configuration. */
export async function ensureStream(jsm: JetStreamManager, spec: StreamSpec): Promise<void> {
  const existing = await streamConfig(jsm, spec.name);
  if (existing) {
    const diff = differences(existing, spec);
    if (diff.length > 0) throw new IncompatibleConfigError(`stream ${spec.name}`, diff);
    return;
  }
  try {
    await jsm.streams.add({
      name: spec.name,
      subjects: [spec.subjects],
      num_replicas: spec.replicas,
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_msgs_per_subject: -1,
      duplicate_window: spec.duplicateWindowMs * NANOS_PER_MS,
      deny_delete: true,
      allow_direct: true,
    });
  } catch (e) {
    // Another replica created it at the same moment: compare what it made.
    const raced = await streamConfig(jsm, spec.name);
    if (raced) {
      const diff = differences(raced, spec);
      if (diff.length > 0) throw new IncompatibleConfigError(`stream ${spec.name}`, diff);
      return;
    }
    throw new JetStreamUnavailableError(
      `cannot create stream ${spec.name} with ${spec.replicas} replica(s): ${(e as Error).message}`,
      e,
    );
  }
}

/** A just-restarted cluster elects stream leaders for a while: wait for an answer (bounded). */
const OPEN_DEADLINE_MS = 30_000;

async function streamConfig(jsm: JetStreamManager, name: string): Promise<StreamConfig | undefined> {
  return withTransientRetries(`cannot read stream ${name}`, OPEN_DEADLINE_MS, async () => {
    try {
      return (await jsm.streams.info(name)).config;
    } catch (e) {
      if (isStreamNotFound(e)) return undefined;
      throw e;
    }
  });
}

export interface BucketSpec {
  readonly bucket: string;
  readonly replicas: number;
  /** How long a key lives (0: forever). */
  readonly ttlMs: number;
}

/** The settings of a KV bucket's stream that its users rely on. */
export function bucketDifferences(actual: Partial<StreamConfig>, spec: BucketSpec): ValidationIssue[] {
  const want: [keyof StreamConfig, unknown, string][] = [
    ["num_replicas", spec.replicas, "replicas (--nats-stream-replicas)"],
    ["storage", StorageType.File, "storage (file)"],
    ["max_age", spec.ttlMs * NANOS_PER_MS, "ttl (max_age)"],
  ];
  return want
    .filter(([key, value]) => JSON.stringify(actual[key] ?? null) !== JSON.stringify(value))
    .map(([key, value, what]) => ({
      path: `${spec.bucket}.${key}`,
      rule: "bucket_config",
      message: `${what} is ${JSON.stringify(actual[key] ?? null)}, needs ${JSON.stringify(value)}`,
    }));
}

/** Compare an existing bucket (undefined if it is missing: the caller creates it). */
export async function checkBucket(jsm: JetStreamManager, spec: BucketSpec): Promise<boolean> {
  const existing = await streamConfig(jsm, `KV_${spec.bucket}`);
  if (!existing) return false;
  const diff = bucketDifferences(existing, spec);
  if (diff.length > 0) throw new IncompatibleConfigError(`bucket ${spec.bucket}`, diff);
  return true;
}
