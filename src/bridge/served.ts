/**
 * The contract a collector serves: the versions it knows (schemas per
 * version) and the protobuf mapping of its messages. The mapping is the
 * working one, the newest: within a major version protobuf changes only
 * add fields (buf breaking, WIRE_JSON), so it carries every field of every
 * older version of that major, and an older event decoded with it is judged
 * by its own version's schema (which refuses a field its version lacks).
 */
import * as session from "../../gen/oneiric/session/v1/session_events.js";
import { sessionValidators } from "../contract/versioned.js";
import { RELEASED, type ContractVersions } from "../contract/versions.js";
import type { SessionEndEventJson, SessionStartEventJson } from "../contract/types.js";
import { makeBridge, type Bridge } from "./bridge.js";
import { sessionEndEventMapping, sessionStartEventMapping, type MessageMapping } from "./mapping.js";

export interface SessionMappings {
  readonly SessionStartEvent: MessageMapping;
  readonly SessionEndEvent: MessageMapping;
}

export interface ServedContract {
  readonly versions: ContractVersions;
  readonly mappings: SessionMappings;
}

/** What this build serves: its released versions and its generated messages' mapping. */
export const BUILT_IN_CONTRACT: ServedContract = {
  versions: RELEASED,
  mappings: { SessionStartEvent: sessionStartEventMapping, SessionEndEvent: sessionEndEventMapping },
};

export interface SessionBridges {
  readonly SessionStartEvent: Bridge<session.SessionStartEvent, SessionStartEventJson>;
  readonly SessionEndEvent: Bridge<session.SessionEndEvent, SessionEndEventJson>;
}

/** Bridges for the session events that accept the `accepted` versions of `contract`. */
export function sessionBridges(contract: ServedContract, accepted: readonly string[]): SessionBridges {
  const validators = sessionValidators(contract.versions, accepted);
  return {
    SessionStartEvent: makeBridge(
      contract.mappings.SessionStartEvent,
      validators.SessionStartEvent,
      session.SessionStartEvent,
    ),
    SessionEndEvent: makeBridge(contract.mappings.SessionEndEvent, validators.SessionEndEvent, session.SessionEndEvent),
  };
}
