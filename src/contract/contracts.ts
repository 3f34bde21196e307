/**
 * The contract types, by name: schema, version policy and compiled validator.
 * This is the one table the registry, the bridge and the CLI read from.
 *
 * Session events are judged by the schema of their own `event_version`,
 * among every version this build knows (contract/versions.ts): an archive or
 * a client takes any of them. A collector narrows that to the versions it
 * accepts (serve --accept-versions).
 */
import { vrpEventSchema } from "./schemas/vrp.js";
import { compileContract, type ContractValidator } from "./validate.js";
import { sessionValidators } from "./versioned.js";
import { RELEASED } from "./versions.js";
import type { VrpEventJson } from "./types.js";

export const contracts = {
  ...sessionValidators(RELEASED),
  VrpEvent: compileContract<VrpEventJson>({ name: "VrpEvent", schema: vrpEventSchema, freeFormField: "details" }),
} as const satisfies Record<string, ContractValidator<unknown>>;

export type ContractName = keyof typeof contracts;
/** The contract JSON type of each contract, by name. */
export type ContractJson<N extends ContractName> = (typeof contracts)[N] extends ContractValidator<infer T> ? T : never;
export const CONTRACT_NAMES = Object.keys(contracts) as ContractName[];
