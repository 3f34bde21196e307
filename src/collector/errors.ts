/**
 * The collector's refusals, in gRPC's vocabulary but free of grpc-js: the
 * server maps `code` to a status and `issues` to google.rpc.BadRequest.
 */
import { SessionEventsError, type ValidationIssue } from "../errors.js";

/** The status names the collector refuses with. */
export type CollectorErrorCode =
  | "INVALID_ARGUMENT"
  | "NOT_FOUND"
  | "FAILED_PRECONDITION"
  | "ALREADY_EXISTS"
  | "RESOURCE_EXHAUSTED"
  | "UNAVAILABLE";

/** A collector refusal: `code` becomes the gRPC status, `issues` (for INVALID_ARGUMENT, and RESOURCE_EXHAUSTED: which field, what limit) a google.rpc.BadRequest. */
export class CollectorError extends SessionEventsError {
  override readonly name = "CollectorError";
  declare readonly code: CollectorErrorCode;
  constructor(code: CollectorErrorCode, message: string, issues: readonly ValidationIssue[] = [], cause?: unknown) {
    super(message, { code, issues, cause });
  }
}
