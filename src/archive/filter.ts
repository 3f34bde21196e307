/**
 * Which events an export keeps: by family, by type, by the event's own time.
 * A filter is checked once when it is made, so a typo is an error naming the
 * option, not an empty archive.
 */
import { ValidationError } from "../contract/errors.js";
import { parseTimestamp, timestampStatus } from "../contract/timestamp.js";
import {
  ARCHIVE_EVENT_TYPES,
  ARCHIVE_FAMILIES,
  EVENT_TYPES,
  compareTimes,
  type ArchiveEvent,
  type ArchiveFamily,
  type EventTime,
} from "./event.js";

/** Which events a read keeps (family, type, session, time range). */
export interface EventFilter {
  /** Keep only these families ("session", "vrp"). */
  readonly families?: readonly ArchiveFamily[];
  /**
   * Keep only these types: a contract type name (SessionStartEvent,
   * SessionEndEvent, VrpEvent) or an event_type value (session_start,
   * PATH_SELECTED, ...).
   */
  readonly types?: readonly string[];
  /** Keep events at or after this instant (RFC 3339). */
  readonly since?: string;
  /** Keep events before this instant (RFC 3339): the range is half-open. */
  readonly until?: string;
}

export type EventPredicate = (event: ArchiveEvent) => boolean;

export function compileFilter(filter: EventFilter = {}): EventPredicate {
  const issues: { path: string; rule: string; message: string }[] = [];
  for (const family of filter.families ?? []) {
    if (!ARCHIVE_FAMILIES.includes(family))
      issues.push({
        path: "/families",
        rule: "enum",
        message: `unknown family ${JSON.stringify(family)} (expected ${ARCHIVE_FAMILIES.join(" or ")})`,
      });
  }
  for (const type of filter.types ?? []) {
    if (type === "") issues.push({ path: "/types", rule: "minLength", message: "a type must not be empty" });
  }
  const instant = (key: "since" | "until"): EventTime | undefined => {
    const text = filter[key];
    if (text === undefined) return undefined;
    if (timestampStatus(text) !== "ok") {
      issues.push({
        path: `/${key}`,
        rule: "format",
        message: `must be an RFC 3339 date-time, like 2026-11-22T00:00:00Z (got ${JSON.stringify(text)})`,
      });
      return undefined;
    }
    const ts = parseTimestamp(text);
    return { seconds: Number(ts.seconds), nanos: ts.nanos };
  };
  const since = instant("since");
  const until = instant("until");
  if (since && until && compareTimes(since, until) >= 0)
    issues.push({ path: "/until", rule: "range", message: "must be after since" });
  if (issues.length > 0) throw new ValidationError("EventFilter", issues);

  const families = filter.families?.length ? new Set(filter.families) : undefined;
  const types = filter.types?.length ? new Set(filter.types) : undefined;
  const typeNames = types ? ARCHIVE_EVENT_TYPES.filter((t) => types.has(t)) : [];
  return (event) => {
    if (families && !families.has(event.family)) return false;
    const info = EVENT_TYPES[event.type];
    if (types && !typeNames.includes(event.type) && !types.has(info.subtype(event.json) ?? "")) return false;
    if (since || until) {
      const time = info.time(event.json);
      if (since && compareTimes(time, since) < 0) return false;
      if (until && compareTimes(time, until) >= 0) return false;
    }
    return true;
  };
}
