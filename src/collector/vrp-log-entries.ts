/**
 * The hub's log records (a producer's VRP event, and each event it caused),
 * written with the contract codec and one reused writer: the bytes the
 * generated `LogEntry.encode` writes (test/vrp-log-entries.test.ts compares
 * them), without its cost per event (a fresh writer grown from 128 bytes, and
 * every Struct value wrapped and the writer forked twice per key), as the
 * collector's session records are (collector.ts, append).
 */
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { encodeMessage, encodeMessageChunks, unreadLazyStruct } from "../bridge/codec.js";
import { vrpEventMapping } from "../bridge/mapping.js";
import { Timestamp } from "../../gen/google/protobuf/timestamp.js";
import type { VrpEvent } from "../../gen/vrp/v1alpha1/vrp_event.js";

/** LogEntry's fields (proto/sessionevents/log/v1/log_entry.proto): received_at, and the oneof members written here. */
const RECEIVED_AT = 1;
const VRP_RECEIVED = 4;
const VRP_DERIVED = 5;
const LEN = 2;
const VARINT = 0;
const tag = (field: number, wireType: number) => (field << 3) | wireType;

/** Encoding is synchronous, so one writer serves every record; a failure leaves it half written, so it is replaced. */
let writer = new BinaryWriter();

/**
 * LogEntry{received_at, member{event = 1, then the member's other fields}}.
 * A large Struct the server kept as the bytes it received (codec.ts,
 * lazyStructs) is written as those bytes, never built into an object to be
 * encoded again; any other event is written into the one writer.
 */
function entry(receivedAt: Timestamp, member: number, event: VrpEvent, rest: (w: BinaryWriter) => void): Buffer {
  try {
    if (unreadLazyStruct(event, "details")) return entryInPieces(receivedAt, member, event, rest);
    Timestamp.encode(receivedAt, writer.uint32(tag(RECEIVED_AT, LEN)).fork()).join();
    writer.uint32(tag(member, LEN)).fork();
    encodeMessage(vrpEventMapping, event, writer.uint32(tag(1, LEN)).fork()).join(); // event = 1
    rest(writer);
    const bytes = writer.join().finish();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch (e) {
    writer = new BinaryWriter();
    throw e;
  }
}

/** The same bytes, with the event in pieces (encodeMessageChunks): its held Struct bytes copied once, into the record. */
function entryInPieces(
  receivedAt: Timestamp,
  member: number,
  event: VrpEvent,
  rest: (w: BinaryWriter) => void,
): Buffer {
  const chunks = encodeMessageChunks(vrpEventMapping, event);
  const eventLength = chunks.reduce((n, c) => n + c.length, 0);
  rest(writer);
  const tail = writer.finish();
  const eventHead = writer.uint32(tag(1, LEN)).uint32(eventLength).finish(); // event = 1
  Timestamp.encode(receivedAt, writer.uint32(tag(RECEIVED_AT, LEN)).fork()).join();
  writer.uint32(tag(member, LEN)).uint32(eventHead.length + eventLength + tail.length);
  return Buffer.concat([writer.finish(), eventHead, ...chunks, tail]);
}

/** LogEntry{received_at, vrp_received{event, producer_id, producer_sequence}}. */
export function vrpReceivedEntry(
  receivedAt: Timestamp,
  event: VrpEvent,
  producerId: string,
  producerSequence: bigint,
): Buffer {
  return entry(receivedAt, VRP_RECEIVED, event, (w) => {
    if (producerId !== "") w.uint32(tag(2, LEN)).string(producerId);
    if (producerSequence !== 0n) w.uint32(tag(3, VARINT)).uint64(checkedUint64(producerSequence));
  });
}

/** LogEntry{received_at, vrp_derived{event, cause_sequence}}. */
export function vrpDerivedEntry(receivedAt: Timestamp, event: VrpEvent, causeSequence: bigint): Buffer {
  return entry(receivedAt, VRP_DERIVED, event, (w) => {
    if (causeSequence !== 0n) w.uint32(tag(2, VARINT)).uint64(checkedUint64(causeSequence));
  });
}

/** As the generated code checks: a uint64 must fit. */
function checkedUint64(value: bigint): bigint {
  if (BigInt.asUintN(64, value) !== value) throw new RangeError(`${value} does not fit a uint64`);
  return value;
}
