/**
 * Request decoding for the services: strict (bad UTF-8, Struct "__proto__"
 * keys and nesting past the contract's limit are refused, naming the field),
 * bounded (an event larger than --max-event-bytes is refused before it is
 * decoded), and never a throw inside grpc-js (which would answer INTERNAL for
 * a client's mistake): a request that cannot be decoded becomes a value the
 * handler answers with INVALID_ARGUMENT, RESOURCE_EXHAUSTED or a Rejection.
 */
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { decodeMessage } from "../bridge/codec.js";
import { decodeChecked, type Decoder } from "../bridge/decode.js";
import type { FieldMapping, MessageMapping } from "../bridge/mapping.js";
import { ValidationError } from "../contract/errors.js";
import { CollectorError } from "../collector/errors.js";
import { scalarFieldMappings } from "../bridge/descriptor-fields.js";
import { messageDescriptor } from "../descriptors.js";

/** A request as the server decoded it: the message, or why it could not be (with what could be read of it). */
export type Decoded<T> =
  | { readonly message: T; readonly error?: undefined; readonly partial?: undefined }
  | { readonly message?: undefined; readonly error: CollectorError; readonly partial?: Partial<T> };

const eventField = (event: MessageMapping): FieldMapping => ({
  number: 1,
  json: "event",
  proto: "event",
  kind: "message",
  message: event,
});

/**
 * A request that carries an event (field 1, "event"), every other field
 * listed from the descriptor set: codec.ts decodes such a request whole (the
 * event's Structs are where a request's time goes), and the size check finds
 * its event without decoding it. Undefined: not such a request, or one with a
 * field the fast decoder does not carry (it is then decoded by ts-proto and
 * scanned).
 */
function eventRequestFields(protoName: string): readonly FieldMapping[] | undefined {
  const event = messageDescriptor(protoName).fields.find((f) => f.number === 1);
  if (event?.name !== "event" || event.fieldKind !== "message") return undefined;
  return scalarFieldMappings(protoName, [1]);
}

/** Request mappings that list every field of their message. */
const complete = new WeakSet<MessageMapping>();

/** A request message as a mapping whose field 1 (if any) is the event, so Struct keys inside it are found. */
export function requestMapping(protoName: string, event?: MessageMapping): MessageMapping {
  const name = protoName.split(".").pop()!;
  const others = event ? eventRequestFields(protoName) : undefined;
  const mapping: MessageMapping = { name, protoName, fields: event ? [eventField(event), ...(others ?? [])] : [] };
  if (others) complete.add(mapping);
  return mapping;
}

/** What a deserializer made by `strictly` decodes: how withEventLimit knows a request that carries an event. */
const deserializers = new WeakMap<object, { readonly mapping: MessageMapping; readonly type: Decoder<unknown> }>();

export function strictly<T>(mapping: MessageMapping, type: Decoder<T>) {
  const decode = complete.has(mapping)
    ? (bytes: Uint8Array) => decodeMessage<T>(mapping, bytes, { lazyStructs: true })
    : (bytes: Uint8Array) => decodeChecked(mapping, type, bytes);
  const deserialize = (bytes: Buffer): Decoded<T> => {
    try {
      return { message: decode(bytes) };
    } catch (e) {
      if (e instanceof ValidationError) return { error: new CollectorError("INVALID_ARGUMENT", e.message, e.issues) };
      throw e;
    }
  };
  deserializers.set(deserialize, { mapping, type });
  return deserialize;
}

/**
 * A service definition whose methods that take an event (a request mapping
 * with an event field, decoded by `strictly`) refuse one larger than
 * `maxEventBytes` before decoding it (limitEventBytes).
 */
export function withEventLimit<D extends object>(definition: D, maxEventBytes: number): D {
  const limited: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(definition) as [
    string,
    { requestDeserialize: (bytes: Buffer) => Decoded<unknown> },
  ][]) {
    const known = deserializers.get(method.requestDeserialize);
    const takesEvent = known?.mapping.fields.some((f) => f.number === 1 && f.json === "event");
    limited[name] = takesEvent
      ? { ...method, requestDeserialize: limitEventBytes(maxEventBytes, known!.type, method.requestDeserialize) }
      : method;
  }
  return limited as D;
}

/** The size of the event in a request's bytes (field 1; all its occurrences), and the request's other fields, read without decoding the event. */
export function eventSize(bytes: Uint8Array): { eventBytes: number; rest: Uint8Array[] } {
  const reader = new BinaryReader(bytes);
  let eventBytes = 0;
  const rest: Uint8Array[] = [];
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const [number, wireType] = reader.tag();
    if (number === 1 && wireType === 2) {
      const length = reader.uint32();
      reader.pos += length;
      if (reader.pos > reader.len) throw new RangeError("premature EOF");
      eventBytes += length;
    } else {
      reader.skip(wireType, number);
      rest.push(bytes.subarray(start, reader.pos));
    }
  }
  return { eventBytes, rest };
}

/**
 * Wraps a request deserializer with the per-event size limit: a request whose
 * event is larger than `maxEventBytes` is refused with RESOURCE_EXHAUSTED
 * before its event is decoded or validated (the time an event costs grows
 * with its size; the limit keeps one event's cost small). What else the
 * request holds (producer_id, producer_sequence) is still read, so that a
 * Rejection can carry the producer's own number.
 */
export function limitEventBytes<T>(
  maxEventBytes: number,
  type: Decoder<T>,
  deserialize: (bytes: Buffer) => Decoded<T>,
): (bytes: Buffer) => Decoded<T> {
  return (bytes: Buffer): Decoded<T> => {
    if (bytes.length <= maxEventBytes) return deserialize(bytes); // the event is smaller than the request
    let size: ReturnType<typeof eventSize>;
    try {
      size = eventSize(bytes);
    } catch {
      return deserialize(bytes); // not a well-formed request: the decoder says why
    }
    if (size.eventBytes <= maxEventBytes) return deserialize(bytes);
    const message = `is ${size.eventBytes} bytes; an event may be at most ${maxEventBytes} bytes (--max-event-bytes)`;
    const error = new CollectorError("RESOURCE_EXHAUSTED", `event: ${message}`, [
      { path: "/event", rule: "max_event_bytes", message },
    ]);
    let partial: Partial<T> | undefined;
    try {
      partial = type.decode(Buffer.concat(size.rest)) as Partial<T>;
    } catch {
      partial = undefined; // the other fields are unreadable: the refusal stands on its own
    }
    return { error, partial };
  };
}
