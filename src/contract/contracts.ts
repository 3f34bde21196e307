/**
 * The contract types, by name: schema, version policy and compiled validator.
 * This is the one table the registry, the bridge and the CLI read from.
 */
import {
  SESSION_EVENT_VERSION,
  environmentInfoSchema,
  sessionEndEventSchema,
  sessionStartEventSchema,
  userInfoSchema,
} from "./schemas/session.js";
import { vrpEventSchema } from "./schemas/vrp.js";
import { compileContract, type ContractValidator } from "./validate.js";
import type {
  EnvironmentInfoJson,
  SessionEndEventJson,
  SessionStartEventJson,
  UserInfoJson,
  VrpEventJson,
} from "./types.js";

const exactVersion = { field: "event_version", expected: SESSION_EVENT_VERSION } as const;

export const contracts = {
  SessionStartEvent: compileContract<SessionStartEventJson>({
    name: "SessionStartEvent",
    schema: sessionStartEventSchema,
    version: exactVersion,
  }),
  SessionEndEvent: compileContract<SessionEndEventJson>({
    name: "SessionEndEvent",
    schema: sessionEndEventSchema,
    version: exactVersion,
  }),
  UserInfo: compileContract<UserInfoJson>({ name: "UserInfo", schema: userInfoSchema }),
  EnvironmentInfo: compileContract<EnvironmentInfoJson>({
    name: "EnvironmentInfo",
    schema: environmentInfoSchema,
  }),
  VrpEvent: compileContract<VrpEventJson>({ name: "VrpEvent", schema: vrpEventSchema, freeFormField: "details" }),
} as const satisfies Record<string, ContractValidator<unknown>>;

export type ContractName = keyof typeof contracts;
/** The contract JSON type of each contract, by name. */
export type ContractJson<N extends ContractName> = (typeof contracts)[N] extends ContractValidator<infer T> ? T : never;
export const CONTRACT_NAMES = Object.keys(contracts) as ContractName[];
