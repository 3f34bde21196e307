/**
 * Validation during a transition window: each event is judged by the schema
 * of its own `event_version`, among the versions accepted; an event of any
 * other version is refused with the version rule (naming the accepted ones)
 * and judged by the current schema for the rest, as before windows existed.
 */
import type { SessionEndEventJson, SessionStartEventJson, EnvironmentInfoJson, UserInfoJson } from "./types.js";
import { compileContract, type ContractValidator } from "./validate.js";
import { isPlainObject } from "./shape.js";
import { type ContractVersions, VERSIONED_EVENT_NAMES, type SessionContractName } from "./versions.js";

export const VERSION_FIELD = "event_version";

export interface SessionValidators {
  readonly SessionStartEvent: ContractValidator<SessionStartEventJson>;
  readonly SessionEndEvent: ContractValidator<SessionEndEventJson>;
  readonly UserInfo: ContractValidator<UserInfoJson>;
  readonly EnvironmentInfo: ContractValidator<EnvironmentInfoJson>;
}

/**
 * Validators for the session types that accept the `accepted` versions of
 * `versions` (default: all of them). Events without an `event_version`
 * (SessionEndEvent may omit it) and of unaccepted versions are judged by the
 * newest accepted version's schema; UserInfo and EnvironmentInfo by it too.
 */
export function sessionValidators(
  versions: ContractVersions,
  accepted: readonly string[] = versions.versions,
): SessionValidators {
  if (accepted.length === 0) throw new Error("accepted versions: at least one is needed");
  for (const v of accepted) versions.get(v); // an unknown one fails, naming the known
  const newest = [...accepted].sort((a, b) => versions.versions.indexOf(a) - versions.versions.indexOf(b)).at(-1)!;
  const plain = (name: SessionContractName) =>
    compileContract<never>({ name, schema: versions.get(newest).schemas[name] });
  const events = Object.fromEntries(
    VERSIONED_EVENT_NAMES.map((name) => [name, versionedContract(name, versions, accepted, newest)]),
  );
  return {
    ...events,
    UserInfo: plain("UserInfo"),
    EnvironmentInfo: plain("EnvironmentInfo"),
  } as unknown as SessionValidators;
}

function versionedContract(
  name: SessionContractName,
  versions: ContractVersions,
  accepted: readonly string[],
  fallback: string,
): ContractValidator<unknown> {
  const expected = [...accepted];
  const byVersion = new Map(
    accepted.map((v) => [
      v,
      compileContract<unknown>({
        name,
        schema: versions.get(v).schemas[name],
        version: { field: VERSION_FIELD, expected },
      }),
    ]),
  );
  const otherwise = byVersion.get(fallback)!;
  if (byVersion.size === 1) return otherwise; // no dispatch on the hot path of a single version
  const pick = (value: unknown): ContractValidator<unknown> => {
    if (!isPlainObject(value) || !Object.hasOwn(value, VERSION_FIELD)) return otherwise;
    const version = value[VERSION_FIELD];
    return (typeof version === "string" && byVersion.get(version)) || otherwise;
  };
  return {
    spec: otherwise.spec,
    assert: (value) => pick(value).assert(value),
    issues: (value) => pick(value).issues(value),
    prepare: () => {
      for (const v of byVersion.values()) v.prepare();
    },
  };
}
