/**
 * The protobuf message that validating a JSON line built, kept with the
 * line's JSON object, so that import does not convert (and validate) each
 * event twice. Weak: it lives exactly as long as the event does.
 */
import { EVENT_TYPES, type ArchiveEventType } from "./event.js";

const built = new WeakMap<object, unknown>();

/** Validate and convert contract JSON; the message is remembered for messageOf. Throws ValidationError. */
export function convertJson(type: ArchiveEventType, json: object): unknown {
  const message = EVENT_TYPES[type].bridge.fromJson(json);
  built.set(json, message);
  return message;
}

/** The event's message: the one built while validating it, or built now. */
export function messageOf(type: ArchiveEventType, json: object): unknown {
  return built.get(json) ?? convertJson(type, json);
}
