/**
 * The VRP event envelope as a JSON Schema 2020-12, written to the same
 * standard as the session schemas. The seed (VRP contract v0.1-preview) gives
 * the envelope as a table; this is that table made checkable.
 *
 * - `ts_ms` is a JSON integer (not a string), bounded by 2^53-1 so that every
 *   value is exact in every JSON parser.
 * - `event_type` and `reason_code` are open strings: the known event types
 *   are listed under `examples` and in the description, and unknown types pass
 *   (forward compatibility: "introduce new event types explicitly").
 * - The envelope is closed (`additionalProperties: false`): a top-level key
 *   the protobuf envelope has no field for would otherwise vanish on the wire.
 *   Free-form data belongs in `details`.
 */
import { KNOWN_VRP_EVENT_TYPES } from "../vrp-vocabulary.js";

/** The VRP envelope schema's version (a preview). */
export const VRP_SCHEMA_VERSION = "v0.1-preview";

export const vrpEventSchema = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  schema_version: VRP_SCHEMA_VERSION,
  title: "VrpEvent",
  description: "VRP behavioral event envelope (contract v0.1-preview). Every event follows this structure.",
  type: "object",
  properties: {
    ts_ms: {
      type: "integer",
      minimum: 0,
      maximum: 9007199254740991,
      description: "Unix timestamp in milliseconds (int64 on the wire; at most 2^53-1 in JSON)",
    },
    event_type: {
      type: "string",
      minLength: 1,
      maxLength: 128,
      examples: [...KNOWN_VRP_EVENT_TYPES],
      description: `Event classification. Known types: ${KNOWN_VRP_EVENT_TYPES.join(", ")}. Unknown types are allowed and passed through unchanged.`,
    },
    session_id: {
      type: "string",
      minLength: 1,
      maxLength: 256,
      description: "Stable session identity (does not change across transport reattach)",
    },
    node_id: {
      type: "string",
      minLength: 1,
      maxLength: 256,
      description: "Origin node (if clustered)",
    },
    reason_code: {
      type: "string",
      minLength: 1,
      maxLength: 128,
      description: "Deterministic cause",
    },
    details: {
      type: "object",
      additionalProperties: true,
      description: "Structured metadata payload",
    },
  },
  required: ["ts_ms", "event_type", "session_id"],
  additionalProperties: false,
} as const;
