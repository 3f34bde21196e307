/**
 * Contract JSON, typed: the shapes the JSON Schemas describe, with the
 * schemas' snake_case names and JSON types. These are what archives and JSON
 * clients see; the protobuf messages in gen/ are what the wire carries.
 */

/** A JSON object of free-form data (`metadata`, `details`). */
export type JsonObject = { [key: string]: JsonValue };
/** A JSON Schema document (2020-12), read as plain data. */
export type JsonSchema = { readonly [key: string]: unknown };
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;

export interface UserInfoJson {
  username: string;
  home: string;
}

export interface EnvironmentInfoJson {
  python_version: string;
  platform: string;
  cwd: string;
}

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

export interface SessionEndEventJson {
  /** Not in the seed's schema; when present it must be "1.0". */
  event_version?: string;
  event_type?: "session_end";
  session_id: string;
  /** RFC 3339 date-time. */
  timestamp: string;
  metadata?: JsonObject;
}

export interface VrpEventJson {
  /** Unix milliseconds, an integer no larger than 2^53-1. */
  ts_ms: number;
  event_type: string;
  session_id: string;
  node_id?: string;
  reason_code?: string;
  details?: JsonObject;
}
