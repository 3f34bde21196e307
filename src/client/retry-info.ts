/**
 * google.rpc.RetryInfo from a failed call's "grpc-status-details-bin"
 * trailer: the server's "try again after this long". Decoded here by field
 * number (RetryInfo.retry_delay = 1, a google.protobuf.Duration: seconds = 1,
 * nanos = 2) rather than by generating RetryInfo into gen/: it is two fields
 * of a stable Google type, and the client only reads it.
 */
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import type { ServiceError } from "@grpc/grpc-js";
import { Status } from "../../gen/google/rpc/status.js";

export const STATUS_DETAILS_KEY = "grpc-status-details-bin";
export const RETRY_INFO_TYPE_URL = "type.googleapis.com/google.rpc.RetryInfo";

/** The delay a RetryInfo asks for, in ms; undefined without one (or if it cannot be read). */
export function retryDelayOf(error: Pick<ServiceError, "metadata"> | undefined): number | undefined {
  const raw = error?.metadata?.get?.(STATUS_DETAILS_KEY)?.[0];
  if (!raw || typeof raw === "string") return undefined;
  try {
    const info = Status.decode(raw).details.find((d) => d.typeUrl === RETRY_INFO_TYPE_URL);
    return info ? decodeRetryDelayMs(info.value) : undefined;
  } catch {
    return undefined; // damaged details are no reason to fail the caller
  }
}

function decodeRetryDelayMs(bytes: Uint8Array): number | undefined {
  const reader = new BinaryReader(bytes);
  let delay: Uint8Array | undefined;
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) delay = reader.bytes();
    else reader.skip(wireType);
  }
  if (!delay) return undefined;
  const d = new BinaryReader(delay);
  let seconds = 0;
  let nanos = 0;
  while (d.pos < d.len) {
    const [field, wireType] = d.tag();
    if (field === 1 && wireType === WireType.Varint) seconds = Number(d.int64());
    else if (field === 2 && wireType === WireType.Varint) nanos = d.int32();
    else d.skip(wireType);
  }
  const ms = seconds * 1000 + Math.floor(nanos / 1e6);
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}

/** Encode a RetryInfo detail (for servers that throttle, and for tests). */
export function encodeRetryInfo(delayMs: number): Uint8Array {
  const seconds = Math.floor(delayMs / 1000);
  const nanos = (delayMs % 1000) * 1e6;
  const duration: number[] = [];
  const varint = (n: number) => {
    for (; n > 0x7f; n = Math.floor(n / 128)) duration.push((n & 0x7f) | 0x80);
    duration.push(n);
  };
  if (seconds) duration.push(0x08), varint(seconds);
  if (nanos) duration.push(0x10), varint(nanos);
  return Uint8Array.from([0x0a, duration.length, ...duration]);
}
