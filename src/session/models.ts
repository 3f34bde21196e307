/**
 * The session model API of the seed, in TypeScript style:
 *
 *   SessionStartEvent.create({ componentName, shellType, metadata })
 *   SessionEndEvent.create({ sessionId, metadata })
 *   X.jsonSchema()            a copy of the contract schema
 *   X.validateJson(input)     typed event, or throws ValidationError
 *   X.validateJsonSafe(input) [event, null] | [null, ValidationError], never throws
 *
 * Events are contract JSON objects (snake_case, as the schema names them);
 * use `bridges` to turn them into protobuf messages or bytes.
 */
import { randomUUID } from "node:crypto";
import os from "node:os";
import process from "node:process";
import { contracts } from "../contract/contracts.js";
import { ValidationError, describeError } from "../contract/errors.js";
import { parseJsonInput } from "../contract/parse.js";
import { formatTimestamp, timestampFromDate } from "../contract/timestamp.js";
import { CURRENT_EVENT_VERSION } from "../contract/versions.js";
import type { ContractValidator } from "../contract/validate.js";
import type {
  EnvironmentInfoJson,
  JsonObject,
  SessionEndEventJson,
  SessionStartEventJson,
  UserInfoJson,
} from "../contract/types.js";
import { currentEnvironment, currentUser } from "./system.js";

/** What `validateJsonSafe` returns: `[value, null]` when valid, `[null, ValidationError]` when not (it never throws). */
export type SafeResult<T> = [T, null] | [null, ValidationError];

/** What every model offers: its schema and validation. */
export interface Model<T> {
  readonly name: string;
  jsonSchema(): Record<string, unknown>;
  validateJson(input: string | unknown): T;
  validateJsonSafe(input: string | unknown): SafeResult<T>;
}

export function makeModel<T>(contract: ContractValidator<T>): Model<T> {
  const { name, schema } = contract.spec;
  const validateJson = (input: string | unknown): T => contract.assert(parseJsonInput(name, input));
  return {
    name,
    jsonSchema: () => structuredClone(schema) as Record<string, unknown>,
    validateJson,
    validateJsonSafe(input) {
      try {
        return [validateJson(input), null];
      } catch (e) {
        if (e instanceof ValidationError) return [null, e];
        // Not a contract failure (e.g. a getter that throws): still never throw.
        return [
          null,
          new ValidationError(name, [{ path: "", rule: "input", message: `could not be read: ${describeError(e)}` }]),
        ];
      }
    },
  };
}

/** What `SessionStartEvent.create` needs; the rest (event id, timestamp, user, environment, version) it fills in. */
export interface SessionStartInit {
  componentName: string;
  shellType: string;
  metadata?: JsonObject;
}

/** What `SessionEndEvent.create` needs; the timestamp and version it fills in. */
export interface SessionEndInit {
  sessionId: string;
  metadata?: JsonObject;
}

/** Now, in the canonical form the bridge writes back, so create()'s events round-trip unchanged. */
const nowUtc = (): string => formatTimestamp(timestampFromDate(new Date()));

/**
 * The SessionStartEvent model: build one with `create`, check JSON with `validateJson` (throws ValidationError) or `validateJsonSafe`, read its JSON Schema with `jsonSchema`.
 *
 * @example
 * ```ts
 * import { SessionStartEvent } from "session-events";
 * const event = SessionStartEvent.create({ componentName: "billing", shellType: "zsh" });
 * SessionStartEvent.validateJson(event); // the same object, or a ValidationError naming each field
 * ```
 */
export const SessionStartEvent = {
  ...makeModel<SessionStartEventJson>(contracts.SessionStartEvent),

  /** A start event for this process, validated (throws ValidationError). */
  create({ componentName, shellType, metadata }: SessionStartInit): SessionStartEventJson {
    return contracts.SessionStartEvent.assert({
      event_version: CURRENT_EVENT_VERSION,
      event_id: randomUUID(),
      event_type: "session_start",
      component_name: componentName,
      shell_type: shellType,
      timestamp: nowUtc(),
      pid: process.pid,
      user: currentUser(),
      hostname: os.hostname(),
      environment: currentEnvironment(),
      metadata: metadata ?? {},
    });
  },
};

/**
 * The SessionEndEvent model: `create` (timestamp now, version "1.0"), `validateJson`, `validateJsonSafe`, `jsonSchema`.
 *
 * @example
 * ```ts
 * import { SessionEndEvent } from "session-events";
 * const end = SessionEndEvent.create({ sessionId: "sess_1", metadata: { exit_reason: "done" } });
 * ```
 */
export const SessionEndEvent = {
  ...makeModel<SessionEndEventJson>(contracts.SessionEndEvent),

  /** An end event for `sessionId`, timestamped now, validated. */
  create({ sessionId, metadata }: SessionEndInit): SessionEndEventJson {
    return contracts.SessionEndEvent.assert({
      event_version: CURRENT_EVENT_VERSION,
      event_type: "session_end",
      session_id: sessionId,
      timestamp: nowUtc(),
      metadata: metadata ?? {},
    });
  },
};

/** The UserInfo model (username and home directory); `fromSystem()` reads the current user. */
export const UserInfo = { ...makeModel<UserInfoJson>(contracts.UserInfo), fromSystem: currentUser };
/** The EnvironmentInfo model (working directory, hostname, pid); `fromSystem()` reads this process's. */
export const EnvironmentInfo = {
  ...makeModel<EnvironmentInfoJson>(contracts.EnvironmentInfo),
  fromSystem: currentEnvironment,
};
