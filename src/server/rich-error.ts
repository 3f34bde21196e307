/**
 * Collector refusals as gRPC errors. INVALID_ARGUMENT carries, besides its
 * message, a google.rpc.Status with a google.rpc.BadRequest in the standard
 * "grpc-status-details-bin" trailer: one field violation per problem, which
 * any gRPC client's rich-error support can read.
 */
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { BadRequest } from "../../gen/google/rpc/error_details.js";
import { Status } from "../../gen/google/rpc/status.js";
import type { ValidationIssue } from "../contract/errors.js";
import type { CollectorError } from "../collector/errors.js";

export const STATUS_DETAILS_KEY = "grpc-status-details-bin";
export const BAD_REQUEST_TYPE_URL = "type.googleapis.com/google.rpc.BadRequest";

export function toServiceError(error: CollectorError): Partial<ServiceError> {
  const code = status[error.code];
  const metadata = new Metadata();
  if (error.issues.length > 0) {
    const badRequest = BadRequest.encode({
      fieldViolations: error.issues.map((i) => ({
        field: fieldPath(i.path),
        description: i.message,
        reason: reasonOf(i),
      })),
    }).finish();
    const details = Status.encode({
      code,
      message: error.message,
      details: [{ typeUrl: BAD_REQUEST_TYPE_URL, value: Buffer.from(badRequest) }],
    }).finish();
    metadata.set(STATUS_DETAILS_KEY, Buffer.from(details));
  }
  return { code, details: error.message, metadata };
}

/** Read the field violations back from an error's trailers (for clients and tests). */
export function fieldViolations(error: {
  metadata?: Metadata;
}): { field: string; description: string; reason: string }[] {
  const raw = error.metadata?.get(STATUS_DETAILS_KEY)[0];
  if (!raw || typeof raw === "string") return [];
  const decoded = Status.decode(raw);
  return decoded.details
    .filter((d) => d.typeUrl === BAD_REQUEST_TYPE_URL)
    .flatMap((d) => BadRequest.decode(d.value).fieldViolations);
}

/** JSON Pointer "/event/user/username" -> "event.user.username"; "/a/0" -> "a[0]". */
export function fieldPath(pointer: string): string {
  return pointer
    .split("/")
    .slice(1)
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce(
      (path, segment) => (/^\d+$/.test(segment) ? `${path}[${segment}]` : path ? `${path}.${segment}` : segment),
      "",
    );
}

/** The contract rule in google.rpc's UPPER_SNAKE_CASE style: "maxLength" -> "MAX_LENGTH". */
function reasonOf(issue: ValidationIssue): string {
  return issue.rule.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}
