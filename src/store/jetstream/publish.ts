/**
 * One publish, acknowledged by JetStream (on a replicated stream the ack
 * comes once a quorum of the stream's replicas has stored the message). A
 * publish that times out or finds no leader (an election after a node loss)
 * is retried with the same Nats-Msg-Id until the deadline: the stream's
 * de-duplication makes the retry store it at most once, and answers with
 * the position of the first copy if the first attempt had landed.
 */
import { JetStreamApiError, type JetStreamClient, type PubAck } from "@nats-io/jetstream";
import type { MsgHdrs } from "@nats-io/transport-node";
import { JetStreamUnavailableError } from "./errors.js";

/** JetStream's "wrong last sequence" for an expected-last-subject-sequence check. */
export const WRONG_LAST_SEQUENCE = 10071;

export interface PublishRequest {
  readonly subject: string;
  readonly body: Uint8Array;
  readonly headers: MsgHdrs | undefined;
  readonly msgId: string;
  readonly expectedLastSubjectSequence?: bigint;
  /** Nats-Expected-Last-Sequence: the stream's last message (any subject) must be this one. */
  readonly expectedLastStreamSequence?: bigint;
}

export async function publishAcknowledged(
  js: JetStreamClient,
  request: PublishRequest,
  deadlineMs: number,
  attemptTimeoutMs = 5000,
): Promise<PubAck> {
  const deadline = Date.now() + deadlineMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await js.publish(request.subject, request.body, {
        msgID: request.msgId,
        headers: request.headers,
        timeout: Math.max(100, Math.min(attemptTimeoutMs, deadline - Date.now())),
        expect: {
          ...(request.expectedLastSubjectSequence === undefined
            ? {}
            : { lastSubjectSequence: Number(request.expectedLastSubjectSequence) }),
          ...(request.expectedLastStreamSequence === undefined
            ? {}
            : { lastSequence: Number(request.expectedLastStreamSequence) }),
        },
      });
    } catch (e) {
      if (!isTransient(e)) throw e;
      if (Date.now() >= deadline)
        throw new JetStreamUnavailableError(
          `JetStream did not acknowledge a publish to ${request.subject} within ${deadlineMs} ms (it may or may not be stored; a retry with the same id stores it once): ${(e as Error).message}`,
          e,
        );
      await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 500)));
    }
  }
}

/** JetStream's "stream not found". */
export function isStreamNotFound(e: unknown): boolean {
  return e instanceof JetStreamApiError && e.status === 404;
}

const TRANSIENT = new Set(["TimeoutError", "NoResponders", "RequestError", "ConnectionError", "JetStreamNotEnabled"]);

/** No answer, no responders, or a cluster without a leader right now (an election): worth another try. */
export function isTransient(e: unknown): boolean {
  if (e instanceof JetStreamApiError) return e.status === 503;
  return TRANSIENT.has((e as Error)?.name ?? "");
}

/**
 * A request to JetStream, retried while the failure is transient (or
 * `retryAlso` says it is worth another try), up to the deadline.
 */
export async function withTransientRetries<T>(
  what: string,
  deadlineMs: number,
  work: () => Promise<T>,
  retryAlso?: (e: unknown) => boolean,
): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (e) {
      if (!isTransient(e) && !retryAlso?.(e)) throw e;
      if (Date.now() >= deadline)
        throw new JetStreamUnavailableError(
          `${what}: no usable answer from JetStream within ${deadlineMs} ms: ${(e as Error).message}`,
          e,
        );
      await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 500)));
    }
  }
}
