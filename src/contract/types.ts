/**
 * Contract JSON, typed: the shapes the JSON Schemas describe, with the
 * schemas' snake_case names and JSON types. These are what archives and JSON
 * clients see; the protobuf messages in gen/ are what the wire carries.
 */

/** A JSON object of free-form data (`metadata`, `details`). */
export type JsonObject = { [key: string]: JsonValue };
/** A JSON Schema document (2020-12), read as plain data. */
export type JsonSchema = { readonly [key: string]: unknown };
/** Any JSON value (what `metadata` and `details` may hold). */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;

/** A UserInfo as contract JSON. */
export interface UserInfoJson {
  username: string;
  home: string;
}

/** An EnvironmentInfo as contract JSON. */
export interface EnvironmentInfoJson {
  python_version: string;
  platform: string;
  cwd: string;
}

/** A SessionStartEvent as contract JSON (the schema's snake_case names and types). */
export interface SessionStartEventJson {
  event_version: string;
  event_id: string;
  event_type?: "session_start";
  component_name: string;
  shell_type: string;
  /** RFC 3339 date-time. */
  timestamp: string;
  pid: number;
  user: UserInfoJson;
  hostname: string;
  environment: EnvironmentInfoJson;
  metadata?: JsonObject;
}

/** A SessionEndEvent as contract JSON. */
export interface SessionEndEventJson {
  /** Not in the seed's schema; when present it must be "1.0". */
  event_version?: string;
  event_type?: "session_end";
  session_id: string;
  /** RFC 3339 date-time. */
  timestamp: string;
  metadata?: JsonObject;
}

/** A VRP event envelope as contract JSON (`ts_ms` a JSON number of milliseconds). */
export interface VrpEventJson {
  /** Unix milliseconds, an integer no larger than 2^53-1. */
  ts_ms: number;
  event_type: string;
  session_id: string;
  node_id?: string;
  reason_code?: string;
  details?: JsonObject;
}
