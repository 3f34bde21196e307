/**
 * The bytes of the event inside a SessionStarted or SessionEnded log entry,
 * as a view of the record (no copy, no re-encoding): what the state store
 * keeps for GetSession.
 */
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

/** LogEntry field `member` (2: session_started, 3: session_ended), then its field 2 (event). */
export function eventBytesOf(payload: Uint8Array, member: number): Uint8Array | undefined {
  const inner = field(payload, member);
  return inner && field(inner, 2);
}

function field(bytes: Uint8Array, wanted: number): Uint8Array | undefined {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [number, type] = reader.tag();
    if (number === wanted && type === WireType.LengthDelimited) {
      const length = reader.uint32();
      return bytes.subarray(reader.pos, reader.pos + length);
    }
    reader.skip(type);
  }
  return undefined;
}
