/** One bridge per contract type. */
import { contracts } from "../contract/contracts.js";
import type {
  EnvironmentInfoJson,
  SessionEndEventJson,
  SessionStartEventJson,
  UserInfoJson,
  VrpEventJson,
} from "../contract/types.js";
import * as session from "../../gen/oneiric/session/v1/session_events.js";
import * as vrp from "../../gen/vrp/v1alpha1/vrp_event.js";
import { makeBridge, type Bridge } from "./bridge.js";
import {
  environmentInfoMapping,
  sessionEndEventMapping,
  sessionStartEventMapping,
  userInfoMapping,
  vrpEventMapping,
} from "./mapping.js";

export type { Bridge } from "./bridge.js";

/**
 * Protobuf message <-> contract JSON, validated both ways, one Bridge per message: `toBinary` / `fromBinary` / `fromJson` / `toJson`.
 *
 * @example
 * ```ts
 * import { bridges } from "session-events";
 * const bytes = bridges.VrpEvent.toBinary({ ts_ms: 1700000000000, event_type: "PATH_SELECTED", session_id: "s-1" });
 * const json = bridges.VrpEvent.fromBinary(bytes); // the same JSON back
 * ```
 */
export const bridges = {
  SessionStartEvent: makeBridge(sessionStartEventMapping, contracts.SessionStartEvent, session.SessionStartEvent),
  SessionEndEvent: makeBridge(sessionEndEventMapping, contracts.SessionEndEvent, session.SessionEndEvent),
  UserInfo: makeBridge(userInfoMapping, contracts.UserInfo, session.UserInfo),
  EnvironmentInfo: makeBridge(environmentInfoMapping, contracts.EnvironmentInfo, session.EnvironmentInfo),
  VrpEvent: makeBridge(vrpEventMapping, contracts.VrpEvent, vrp.VrpEvent),
} as const satisfies {
  SessionStartEvent: Bridge<session.SessionStartEvent, SessionStartEventJson>;
  SessionEndEvent: Bridge<session.SessionEndEvent, SessionEndEventJson>;
  UserInfo: Bridge<session.UserInfo, UserInfoJson>;
  EnvironmentInfo: Bridge<session.EnvironmentInfo, EnvironmentInfoJson>;
  VrpEvent: Bridge<vrp.VrpEvent, VrpEventJson>;
};
