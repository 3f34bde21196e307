/**
 * The collector's refusals, in gRPC's vocabulary but free of grpc-js: the
 * server maps `code` to a status and `issues` to google.rpc.BadRequest.
 */
import type { ValidationIssue } from "../contract/errors.js";

export type CollectorErrorCode = "INVALID_ARGUMENT" | "NOT_FOUND" | "FAILED_PRECONDITION" | "ALREADY_EXISTS" | "RESOURCE_EXHAUSTED" | "UNAVAILABLE";

export class CollectorError extends Error {
  override readonly name = "CollectorError";
  constructor(
    readonly code: CollectorErrorCode,
    message: string,
    /** Field-level problems, for INVALID_ARGUMENT (and RESOURCE_EXHAUSTED: which field, what limit). */
    readonly issues: readonly ValidationIssue[] = [],
  ) {
    super(message);
  }
}
