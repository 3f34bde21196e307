/**
 * The one error model of session-events, in the style of connect-es's
 * ConnectError: every error the package throws on purpose is a
 * SessionEventsError with a `code` (a gRPC status name, so the same word is
 * used in a log line, a CLI message and on the wire), the field-level
 * `issues` when there are any, and the `cause` it wraps.
 */

/** gRPC status names (google.rpc.Code), the vocabulary of `SessionEventsError.code`. */
export const ERROR_CODES = [
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
] as const;

/** A gRPC status name: the `code` of every SessionEventsError. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** One problem with one field: where, which rule, and a sentence for a human. */
export interface ValidationIssue {
  /** JSON Pointer to the offending value ("" is the whole document). */
  readonly path: string;
  /** The rule that was broken: a JSON Schema keyword or one of ours. */
  readonly rule: string;
  /** A sentence for a human. */
  readonly message: string;
}

/** What a SessionEventsError is made of besides its message. */
export interface SessionEventsErrorOptions {
  readonly code: ErrorCode;
  readonly issues?: readonly ValidationIssue[];
  readonly cause?: unknown;
}

/** Base class of every error session-events throws on purpose. */
export class SessionEventsError extends Error {
  override name = "SessionEventsError";
  /** What kind of failure this is, as a gRPC status name. */
  readonly code: ErrorCode;
  /** Field-level problems (empty when the error is not about fields). */
  readonly issues: readonly ValidationIssue[];

  constructor(message: string, options: SessionEventsErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.issues = options.issues ?? [];
  }
}
