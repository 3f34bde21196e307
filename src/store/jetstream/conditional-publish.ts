/**
 * Publish only if a subject's last message is still the one the writer
 * decided on: the optimistic concurrency that serialises one session's
 * writers (and one KV key's) across replicas.
 *
 * JetStream's own check, Nats-Expected-Last-Subject-Sequence, is not
 * serialisable on a replicated stream before nats-server 2.10 (nats-server
 * #4320: it is a pre-check on the leader, so concurrent publishes with the
 * same expectation can all be stored; measured here on Debian's 2.9.10 with
 * R3: about half of 200 two-writer races stored both). Expected 0 (a create)
 * and the stream-wide Nats-Expected-Last-Sequence are applied in raft order
 * and are safe. So on such servers the check is made stream-wide: read the
 * stream's last sequence, then the subject's; if the subject is where the
 * writer expects, publish expecting the stream unchanged since. A write to
 * any other subject in between makes it retry (not a conflict): correct on
 * every version, at the price of retries under load. Mode "subject" (R1, or
 * nats-server >= 2.10) uses the server's subject check directly.
 */
import { JetStreamApiError, type JetStreamClient, type JetStreamManager, type PubAck } from "@nats-io/jetstream";
import { JetStreamUnavailableError } from "./errors.js";
import { publishAcknowledged, withTransientRetries, WRONG_LAST_SEQUENCE, type PublishRequest } from "./publish.js";

export type SerialisationMode = "subject" | "stream";

/** "subject" where the server's per-subject check is serialisable, else "stream". */
export function serialisationMode(serverVersion: string | undefined, replicas: number): SerialisationMode {
  if (replicas === 1) return "subject";
  const [major = 0, minor = 0] = (serverVersion ?? "0.0").split(".").map((n) => Number.parseInt(n, 10));
  return major > 2 || (major === 2 && minor >= 10) ? "subject" : "stream";
}

/** The subject moved on: `actual` is its last sequence now. */
export class SubjectMovedError extends Error {
  constructor(readonly actual: bigint | undefined) {
    super(`the subject's last message is at ${actual ?? "another position"}`);
  }
}

export interface ConditionalPublish {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly stream: string;
  readonly mode: SerialisationMode;
  readonly deadlineMs: number;
}

export async function publishIfSubjectAt(
  c: ConditionalPublish,
  request: PublishRequest & { expectedLastSubjectSequence: bigint },
): Promise<PubAck> {
  if (c.mode === "subject") {
    try {
      return await publishAcknowledged(c.js, request, c.deadlineMs);
    } catch (e) {
      if (e instanceof JetStreamApiError && e.code === WRONG_LAST_SEQUENCE) throw new SubjectMovedError(actualOf(e));
      throw e;
    }
  }
  const deadline = Date.now() + c.deadlineMs;
  for (;;) {
    const [streamLast, subjectLast] = await withTransientRetries(
      `stream ${c.stream}`,
      Math.max(1000, deadline - Date.now()),
      async () => {
        const info = await c.jsm.streams.info(c.stream);
        return [BigInt(info.state.last_seq), await lastOfSubject(c.jsm, c.stream, request.subject)] as const;
      },
    );
    if (subjectLast !== request.expectedLastSubjectSequence) throw new SubjectMovedError(subjectLast);
    try {
      return await publishAcknowledged(
        c.js,
        { ...request, expectedLastStreamSequence: streamLast },
        Math.max(1000, deadline - Date.now()),
      );
    } catch (e) {
      if (!(e instanceof JetStreamApiError && e.code === WRONG_LAST_SEQUENCE)) throw e;
      // Something was stored meanwhile (this subject or another): look again.
      if (Date.now() > deadline)
        throw new JetStreamUnavailableError(
          `no quiet moment to append to ${request.subject} within ${c.deadlineMs} ms (the stream is written too often for stream-wide checks; nats-server >= 2.10 checks per subject)`,
          e,
        );
    }
  }
}

/** The sequence of a subject's last message (0n if it has none). */
export async function lastOfSubject(jsm: JetStreamManager, stream: string, subject: string): Promise<bigint> {
  try {
    const message = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    return message ? BigInt(message.seq) : 0n;
  } catch (e) {
    if (e instanceof JetStreamApiError && e.status === 404) return 0n;
    throw e;
  }
}

function actualOf(e: Error): bigint | undefined {
  const actual = /wrong last sequence: (\d+)/.exec(e.message)?.[1];
  return actual === undefined ? undefined : BigInt(actual);
}
