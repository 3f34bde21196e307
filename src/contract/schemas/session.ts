/**
 * The session event JSON Schemas (2020-12), exactly as the seed
 * "Event Schema Reference Guide" gives them. Do not "improve" them here:
 * test/schemas.test.ts compares them with the seed's text, key for key.
 *
 * UserInfo and EnvironmentInfo are written once and used twice: as `$defs`
 * inside SessionStartEvent and as schemas of their own.
 */

const DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema";
/** The session events' `event_version`: anything else is refused. */
export const SESSION_EVENT_VERSION = "1.0";

const userInfo = {
  type: "object",
  properties: {
    username: {
      type: "string",
      maxLength: 100,
      description: "System username (truncated to 100 characters)",
    },
    home: {
      type: "string",
      maxLength: 500,
      description: "User home directory path (truncated to 500 characters)",
    },
  },
  required: ["username", "home"],
} as const;

const environmentInfo = {
  type: "object",
  properties: {
    python_version: {
      type: "string",
      description: "Python interpreter version",
    },
    platform: {
      type: "string",
      description: "Operating system and platform identifier",
    },
    cwd: {
      type: "string",
      maxLength: 500,
      description: "Current working directory (truncated to 500 characters)",
    },
  },
  required: ["python_version", "platform", "cwd"],
} as const;

const metadata = {
  type: "object",
  additionalProperties: true,
  default: {},
  description: "Optional additional metadata",
} as const;

const timestamp = {
  type: "string",
  format: "date-time",
  description: "ISO 8601 timestamp in UTC",
} as const;

export const sessionStartEventSchema = {
  $schema: DRAFT_2020_12,
  event_version: SESSION_EVENT_VERSION,
  title: "SessionStartEvent",
  type: "object",
  properties: {
    event_version: {
      type: "string",
      description: "Event format version (currently '1.0')",
    },
    event_id: {
      type: "string",
      format: "uuid",
      description: "Unique event identifier (UUID v4 string)",
    },
    event_type: {
      type: "string",
      const: "session_start",
      description: "Event type discriminator",
    },
    component_name: {
      type: "string",
      pattern: "^[a-zA-Z0-9_-]+$",
      description: "Component name (e.g., 'mahavishnu', 'session-buddy')",
    },
    shell_type: {
      type: "string",
      description: "Shell class name (e.g., 'MahavishnuShell')",
    },
    timestamp,
    pid: {
      type: "integer",
      minimum: 1,
      maximum: 4194304,
      description: "Process ID (1-4194304)",
    },
    user: { $ref: "#/$defs/UserInfo" },
    hostname: {
      type: "string",
      description: "System hostname",
    },
    environment: { $ref: "#/$defs/EnvironmentInfo" },
    metadata,
  },
  required: [
    "event_version",
    "event_id",
    "component_name",
    "shell_type",
    "timestamp",
    "pid",
    "user",
    "hostname",
    "environment",
  ],
  $defs: {
    UserInfo: userInfo,
    EnvironmentInfo: environmentInfo,
  },
} as const;

export const sessionEndEventSchema = {
  $schema: DRAFT_2020_12,
  event_version: SESSION_EVENT_VERSION,
  title: "SessionEndEvent",
  type: "object",
  properties: {
    event_type: {
      type: "string",
      const: "session_end",
      description: "Event type discriminator",
    },
    session_id: {
      type: "string",
      description: "Session ID from SessionStartEvent response",
    },
    timestamp,
    metadata,
  },
  required: ["session_id", "timestamp"],
} as const;

/** The component schemas carry the same version header as the events. */
export const userInfoSchema = {
  $schema: DRAFT_2020_12,
  event_version: SESSION_EVENT_VERSION,
  title: "UserInfo",
  ...userInfo,
} as const;

export const environmentInfoSchema = {
  $schema: DRAFT_2020_12,
  event_version: SESSION_EVENT_VERSION,
  title: "EnvironmentInfo",
  ...environmentInfo,
} as const;
