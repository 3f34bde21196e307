/**
 * A JetStream log as an archive input: the stream of one family (sessions,
 * vrp) read whole with JetStreamLog.read(), its records handed on as a data
 * directory's are, so that every archive job (export, verify) reads it the
 * same way and writes the same lines.
 *
 * Read-only: nothing is created. JetStreamEngine.open makes missing streams
 * and buckets, which an export must never do (a mistyped --nats-prefix would
 * leave empty streams behind and export nothing), so this opens the one
 * stream it reads and refuses a missing one by name.
 *
 * Loaded only for a nats:// input (source.ts imports it when it sees one):
 * archive users who never read JetStream do not load the NATS client.
 */
import { JetStreamApiError, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { SessionEventsError } from "../errors.js";
import { connectNats } from "../store/jetstream/connect.js";
import { JetStreamLog } from "../store/jetstream/jetstream-log.js";
import { DEFAULT_PREFIX, familyNames } from "../store/jetstream/names.js";
import type { RawItem } from "./raw-record.js";

/** A JetStream input (INPUT is nats://host:port URLs, comma-separated): which stream, and how to connect. */
export interface JetStreamInput {
  /** The family whose stream is read (each family is a stream of its own). */
  readonly family: "sessions" | "vrp";
  /** Default "session-events" (as `serve --nats-prefix`). */
  readonly prefix?: string;
  /** The bytes of a NATS .creds file. */
  readonly creds?: Uint8Array;
  readonly token?: string;
  /** PEM CA of the servers' certificates (TLS is on when given). */
  readonly tlsCa?: string | Uint8Array;
}

/** What source.ts makes of it: an OpenedSource (not imported: source.ts loads this file). */
interface JetStreamSource {
  readonly format: "log";
  readonly totalBytes: undefined;
  readonly parts: AsyncIterable<{ readonly name: string; readonly items: AsyncIterable<RawItem[]> }>;
  close(): Promise<void>;
}

/** Records handed on at once, at most (as the frame reader's batches). */
const MAX_BATCH = 256;

export async function openJetStreamSource(
  input: string,
  options: JetStreamInput | undefined,
  onBytes?: (n: number) => void,
): Promise<JetStreamSource> {
  if (!options?.family) {
    throw new SessionEventsError(
      `${input}: a JetStream input needs its family (sessions or vrp): each family is a stream of its own, with no order between the two`,
      { code: "INVALID_ARGUMENT", issues: [{ path: "family", rule: "required", message: "sessions or vrp" }] },
    );
  }
  const servers = input.split(",").map((s) => s.trim());
  const names = familyNames(options.prefix ?? DEFAULT_PREFIX, options.family);
  const connection = await connectNats({
    servers,
    creds: options.creds,
    token: options.token,
    tlsCa: options.tlsCa,
    name: "session-events archive",
  }).catch((e: unknown) => {
    throw new SessionEventsError(`${input}: cannot connect to NATS: ${(e as Error).message}`, {
      code: "UNAVAILABLE",
      cause: e,
    });
  });
  try {
    const jsm = await jetstreamManager(connection);
    try {
      await jsm.streams.info(names.stream);
    } catch (e) {
      if (e instanceof JetStreamApiError && e.status === 404) {
        throw new SessionEventsError(
          `${input}: stream ${names.stream} does not exist (family ${options.family}, prefix ${JSON.stringify(options.prefix ?? DEFAULT_PREFIX)}): nothing to export; check --nats-prefix`,
          { code: "NOT_FOUND", cause: e },
        );
      }
      throw e;
    }
    const log = new JetStreamLog(jetstream(connection), jsm, names);
    const name = `nats stream ${names.stream}`;
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await log.close();
      await connection.close().catch(() => {});
    };
    return {
      format: "log",
      // The stream's stored bytes count subjects and headers too: no total, rather than a bar that ends short.
      totalBytes: undefined,
      parts: (async function* () {
        yield { name, items: batches(log, onBytes) };
      })(),
      close,
    };
  } catch (e) {
    await connection.close().catch(() => {});
    throw e;
  }
}

/**
 * The stream's records in batches. A record's sequence is its stream
 * sequence: the records of an atomic group (one message) share it.
 */
async function* batches(log: JetStreamLog, onBytes?: (n: number) => void): AsyncGenerator<RawItem[]> {
  let batch: RawItem[] = [];
  for await (const record of log.read()) {
    onBytes?.(record.payload.length);
    batch.push({ kind: "record", payload: record.payload, sequence: record.sequence });
    if (batch.length >= MAX_BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}
