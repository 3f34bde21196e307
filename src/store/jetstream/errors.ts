/** What the JetStream engine refuses, as SessionEventsErrors with gRPC codes. */
import { SessionEventsError, type ValidationIssue } from "../../errors.js";

/** A stream or bucket exists with settings this engine cannot work with. */
export class IncompatibleConfigError extends SessionEventsError {
  override name = "IncompatibleConfigError";
  constructor(
    readonly resource: string,
    readonly differences: readonly ValidationIssue[],
  ) {
    super(
      `${resource} exists with an incompatible configuration: ${differences.map((d) => d.message).join("; ")}. Change it with the nats CLI (or use another --nats-prefix); the collector does not rewrite existing streams.`,
      {
        code: "FAILED_PRECONDITION",
        issues: differences,
      },
    );
  }
}

/**
 * An append to a session named the last sequence it expected on the
 * session's subject, and another writer got there first: catch up to
 * `actual`, decide again, and retry.
 */
export class SessionSequenceConflictError extends SessionEventsError {
  override name = "SessionSequenceConflictError";
  constructor(
    readonly sessionId: string,
    readonly expected: bigint,
    /** The session's last sequence as the server saw it (undefined if it did not say). */
    readonly actual: bigint | undefined,
    cause?: unknown,
  ) {
    super(
      `session ${JSON.stringify(sessionId)}: expected its last record at ${expected}, but it is at ${actual ?? "another position"}; catch up and retry`,
      { code: "ABORTED", cause },
    );
  }
}

/** NATS did not answer in time or has no leader now: nothing is known to be stored. */
export class JetStreamUnavailableError extends SessionEventsError {
  override name = "JetStreamUnavailableError";
  constructor(message: string, cause?: unknown) {
    super(message, { code: "UNAVAILABLE", cause });
  }
}
