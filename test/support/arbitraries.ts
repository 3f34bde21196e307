/**
 * fast-check generators of valid events, on both sides of the bridge:
 * contract JSON in canonical form, and protobuf messages.
 */
import fc from "fast-check";
import { FORBIDDEN_KEYS } from "../../src/contract/shape.js";
import { KNOWN_VRP_EVENT_TYPES } from "../../src/contract/vrp-vocabulary.js";
import { MAX_TIMESTAMP_SECONDS, MIN_TIMESTAMP_SECONDS } from "../../src/contract/timestamp.js";
import type { JsonObject, JsonValue } from "../../src/contract/types.js";

/** Any Unicode text (whole code points, so valid UTF-8 on the wire). */
export const text = (constraints: { minLength?: number; maxLength?: number } = {}) =>
  fc.string({ unit: "binary", ...constraints });

const key = text({ maxLength: 12 }).filter((k) => !FORBIDDEN_KEYS.has(k));

/** Free-form JSON objects (metadata, details), a few levels deep. */
export const jsonObject: fc.Arbitrary<JsonObject> = fc.letrec<{ value: JsonValue; object: JsonObject }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    text({ maxLength: 20 }),
    fc.array(tie("value"), { maxLength: 4 }),
    tie("object"),
  ),
  object: fc.dictionary(key, tie("value"), { maxKeys: 5, noNullPrototype: true }),
})).object;

const pad = (n: number, w: number) => String(n).padStart(w, "0");

/** A canonical RFC 3339 UTC timestamp, built from calendar parts (independent of the bridge). */
export const canonicalTimestamp = fc
  .record(
    {
      year: fc.integer({ min: 1, max: 9999 }),
      month: fc.integer({ min: 1, max: 12 }),
      day: fc.integer({ min: 1, max: 28 }),
      hour: fc.integer({ min: 0, max: 23 }),
      minute: fc.integer({ min: 0, max: 59 }),
      second: fc.integer({ min: 0, max: 59 }),
      fraction: fc.oneof(
        fc.constant(""),
        fc.integer({ min: 1, max: 999 }).map((n) => `.${pad(n, 3)}`),
        fc
          .integer({ min: 1, max: 999_999 })
          .filter((n) => n % 1000 !== 0)
          .map((n) => `.${pad(n, 6)}`),
        fc
          .integer({ min: 1, max: 999_999_999 })
          .filter((n) => n % 1000 !== 0)
          .map((n) => `.${pad(n, 9)}`),
      ),
    },
    { noNullPrototype: true },
  )
  .map(
    (t) =>
      `${pad(t.year, 4)}-${pad(t.month, 2)}-${pad(t.day, 2)}T${pad(t.hour, 2)}:${pad(t.minute, 2)}:${pad(t.second, 2)}${t.fraction}Z`,
  );

const componentName = fc.stringMatching(/^[a-zA-Z0-9_-]{1,40}$/);
const pid = fc.integer({ min: 1, max: 4194304 });

export const userInfoJson = fc.record(
  { username: text({ maxLength: 100 }), home: text({ maxLength: 500 }) },
  { noNullPrototype: true },
);
export const environmentInfoJson = fc.record(
  {
    python_version: text({ maxLength: 20 }),
    platform: text({ maxLength: 40 }),
    cwd: text({ maxLength: 500 }),
  },
  { noNullPrototype: true },
);

export const sessionStartJson = fc.record(
  {
    event_version: fc.constant("1.0"),
    event_id: fc.uuid(),
    event_type: fc.constant("session_start" as const),
    component_name: componentName,
    shell_type: text({ maxLength: 30 }),
    timestamp: canonicalTimestamp,
    pid,
    user: userInfoJson,
    hostname: text({ maxLength: 30 }),
    environment: environmentInfoJson,
    metadata: jsonObject,
  },
  {
    requiredKeys: [
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
    noNullPrototype: true,
  },
);

export const sessionEndJson = fc.record(
  {
    event_version: fc.constant("1.0"),
    event_type: fc.constant("session_end" as const),
    session_id: text({ maxLength: 40 }),
    timestamp: canonicalTimestamp,
    metadata: jsonObject,
  },
  { requiredKeys: ["session_id", "timestamp"], noNullPrototype: true },
);

const vrpString = (max: number) => text({ minLength: 1, maxLength: max });

export const vrpJson = fc.record(
  {
    ts_ms: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    event_type: fc.oneof(fc.constantFrom(...KNOWN_VRP_EVENT_TYPES), vrpString(128)),
    session_id: vrpString(256),
    node_id: vrpString(256),
    reason_code: vrpString(128),
    details: jsonObject,
  },
  { requiredKeys: ["ts_ms", "event_type", "session_id"], noNullPrototype: true },
);

// --- the protobuf side --------------------------------------------------------

export const timestampMessage = fc.record(
  { seconds: fc.bigInt(MIN_TIMESTAMP_SECONDS, MAX_TIMESTAMP_SECONDS), nanos: fc.integer({ min: 0, max: 999_999_999 }) },
  { noNullPrototype: true },
);
const plain = { noNullPrototype: true } as const;

const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });

export const sessionStartMessage = fc.record(
  {
    eventVersion: fc.constant("1.0"),
    eventId: fc.uuid(),
    eventType: optional(fc.constant("session_start")),
    componentName,
    shellType: text({ maxLength: 30 }),
    timestamp: timestampMessage,
    pid,
    user: fc.record({ username: text({ maxLength: 100 }), home: text({ maxLength: 500 }) }, plain),
    hostname: text({ maxLength: 30 }),
    environment: fc.record(
      { pythonVersion: text({ maxLength: 20 }), platform: text({ maxLength: 40 }), cwd: text({ maxLength: 500 }) },
      plain,
    ),
    metadata: optional(jsonObject),
  },
  plain,
);

export const sessionEndMessage = fc.record(
  {
    eventType: optional(fc.constant("session_end")),
    sessionId: text({ maxLength: 40 }),
    timestamp: timestampMessage,
    metadata: optional(jsonObject),
    eventVersion: optional(fc.constant("1.0")),
  },
  plain,
);

export const vrpMessage = fc.record(
  {
    tsMs: fc.bigInt(0n, BigInt(Number.MAX_SAFE_INTEGER)),
    eventType: fc.oneof(fc.constantFrom(...KNOWN_VRP_EVENT_TYPES), vrpString(128)),
    sessionId: vrpString(256),
    nodeId: optional(vrpString(256)),
    reasonCode: optional(vrpString(128)),
    details: optional(jsonObject),
  },
  plain,
);
