/**
 * The session contract of every released version, kept: a version's JSON
 * Schemas never change once released, so that events stored under it stay
 * valid under it and a collector can accept it during a transition window
 * (docs/contract-evolution.md). The newest version is the current one: what
 * new events carry and what every answer defaults to.
 *
 * Releasing a version adds an entry here (with its schemas in a module of
 * their own under schemas/), never edits an older one.
 */
import * as v1_0 from "./schemas/session.js";
import { SessionEventsError } from "../errors.js";
import type { JsonSchema } from "./validate.js";

/** The contract types governed by `event_version` (the VRP envelope has its own `schema_version`). */
export const SESSION_CONTRACT_NAMES = ["SessionStartEvent", "SessionEndEvent", "UserInfo", "EnvironmentInfo"] as const;
export type SessionContractName = (typeof SESSION_CONTRACT_NAMES)[number];

/** The event types whose instances carry `event_version` and are judged by the schema of their own version. */
export const VERSIONED_EVENT_NAMES = ["SessionStartEvent", "SessionEndEvent"] as const;

export interface ContractVersion {
  /** "MAJOR.MINOR", as events carry it in `event_version`. */
  readonly version: string;
  readonly schemas: Readonly<Record<SessionContractName, JsonSchema>>;
}

export const RELEASED_CONTRACTS: readonly ContractVersion[] = [
  {
    version: "1.0",
    schemas: {
      SessionStartEvent: v1_0.sessionStartEventSchema,
      SessionEndEvent: v1_0.sessionEndEventSchema,
      UserInfo: v1_0.userInfoSchema,
      EnvironmentInfo: v1_0.environmentInfoSchema,
    },
  },
];

/** "MAJOR.MINOR": what `event_version` holds. */
export const VERSION_PATTERN = /^(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

export function parseVersion(version: string): { major: number; minor: number } | undefined {
  const m = VERSION_PATTERN.exec(version);
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}

export function compareVersions(a: string, b: string): number {
  const x = parseVersion(a)!;
  const y = parseVersion(b)!;
  return x.major - y.major || x.minor - y.minor;
}

/** A set of contract versions, newest last; the newest is the current one. */
export class ContractVersions {
  private readonly byVersion: ReadonlyMap<string, ContractVersion>;
  readonly current: string;

  constructor(versions: readonly ContractVersion[]) {
    if (versions.length === 0) throw new Error("a contract needs at least one version");
    for (const v of versions)
      if (!parseVersion(v.version))
        throw new Error(`contract version ${JSON.stringify(v.version)}: must be MAJOR.MINOR, e.g. "1.0"`);
    const sorted = [...versions].sort((a, b) => compareVersions(a.version, b.version));
    this.byVersion = new Map(sorted.map((v) => [v.version, v]));
    if (this.byVersion.size !== versions.length) throw new Error("a contract version is listed twice");
    this.current = sorted.at(-1)!.version;
  }

  /** Every version, oldest first. */
  get versions(): string[] {
    return [...this.byVersion.keys()];
  }

  has(version: string): boolean {
    return this.byVersion.has(version);
  }

  /** One version's contract; an unknown version fails, listing the known ones. */
  get(version: string = this.current): ContractVersion {
    const found = this.byVersion.get(version);
    if (!found) throw new UnknownVersionError(version, this.versions);
    return found;
  }
}

/** A version this contract does not have (a usage mistake wherever a version is named). */
export class UnknownVersionError extends SessionEventsError {
  override readonly name = "UnknownVersionError";
  constructor(
    readonly version: string,
    readonly known: readonly string[],
  ) {
    super(`unknown contract version ${JSON.stringify(version)} (known versions: ${known.join(", ")})`, {
      code: "INVALID_ARGUMENT",
    });
  }
}

/** The versions this build knows: every released one. */
export const RELEASED = new ContractVersions(RELEASED_CONTRACTS);

/** The current version: what new events carry. */
export const CURRENT_EVENT_VERSION = RELEASED.current;
