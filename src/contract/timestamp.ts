/**
 * RFC 3339 text <-> google.protobuf.Timestamp, exact to the nanosecond.
 *
 * What round-trips and what is normalised (JSON -> proto -> JSON):
 * - The instant is kept exactly, to the nanosecond.
 * - The offset is not: every timestamp is written back in UTC with "Z"
 *   ("2026-02-06T14:34:56+01:00" comes back as "2026-02-06T13:34:56Z").
 * - Fractions are written with 0, 3, 6 or 9 digits, as protobuf's canonical
 *   JSON does (".7" comes back as ".700"); digits past nanoseconds are cut.
 * - "t" and "z" are read (RFC 3339 allows lower case) and written as "T" and
 *   "Z". A space between date and time is refused: RFC 3339's date-time
 *   grammar (section 5.6) requires "T"; only a note allows other separators
 *   "by mutual agreement", and a consumer checking the grammar (Python's
 *   jsonschema with its RFC 3339 checker, say) refuses them.
 * - A leap second (23:59:60Z) is read as the first second of the next day,
 *   as POSIX time and protobuf's "smeared" Timestamp count it.
 * Valid Timestamps span 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
 */
import type { Timestamp } from "../../gen/google/protobuf/timestamp.js";

export const MIN_TIMESTAMP_SECONDS = -62135596800n; // 0001-01-01T00:00:00Z
export const MAX_TIMESTAMP_SECONDS = 253402300799n; // 9999-12-31T23:59:59Z
const MIN_SECONDS = Number(MIN_TIMESTAMP_SECONDS);
const MAX_SECONDS = Number(MAX_TIMESTAMP_SECONDS);

/** The fields of an RFC 3339 date-time, as written. */
interface Rfc3339Parts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** Fraction digits after the dot ("" when none). */
  fraction: string;
  /** Offset east of UTC, in minutes. */
  offsetMinutes: number;
  offsetHour: number;
  offsetMinute: number;
}

/**
 * Reads `YYYY-MM-DD(T|t)HH:MM:SS[.fraction](Z|z|±HH:MM)` by position, with
 * no regular expression (this runs for every timestamp, both ways). Checks
 * syntax only; isRfc3339DateTime checks the calendar.
 */
function scan(text: string): Rfc3339Parts | undefined {
  const n = text.length;
  if (n < 20) return undefined;
  const d = (i: number) => {
    const c = text.charCodeAt(i) - 48;
    return c >= 0 && c <= 9 ? c : NaN;
  };
  const two = (i: number) => d(i) * 10 + d(i + 1);
  const sep = text[10];
  if (text[4] !== "-" || text[7] !== "-" || (sep !== "T" && sep !== "t") || text[13] !== ":" || text[16] !== ":")
    return undefined;
  const year = d(0) * 1000 + d(1) * 100 + two(2);
  const month = two(5);
  const day = two(8);
  const hour = two(11);
  const minute = two(14);
  const second = two(17);
  let i = 19;
  let fraction = "";
  if (text[i] === ".") {
    const startDigits = ++i;
    while (i < n && !Number.isNaN(d(i))) i++;
    if (i === startDigits) return undefined;
    fraction = text.slice(startDigits, i);
  }
  let offsetMinutes = 0;
  let offsetHour = 0;
  let offsetMinute = 0;
  const zone = text[i];
  if (zone === "Z" || zone === "z") {
    if (i + 1 !== n) return undefined;
  } else if (zone === "+" || zone === "-") {
    if (i + 6 !== n || text[i + 3] !== ":") return undefined;
    offsetHour = two(i + 1);
    offsetMinute = two(i + 4);
    offsetMinutes = (zone === "+" ? 1 : -1) * (offsetHour * 60 + offsetMinute);
  } else {
    return undefined;
  }
  const parts = { year, month, day, hour, minute, second, fraction, offsetMinutes, offsetHour, offsetMinute };
  return Number.isNaN(year + month + day + hour + minute + second + offsetMinutes) ? undefined : parts;
}

const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * What a date-time string is worth:
 * - "format": not an RFC 3339 date-time (section 5.6, exactly). Stricter than
 *   ajv-formats, which also takes offsets without a colon ("+0100") or without
 *   minutes ("+01") and any whitespace as the separator; RFC 3339's grammar
 *   takes neither (only "T" or "t" separates date and time). A leap second
 *   (:60) is valid only at 23:59 UTC.
 * - "range": a valid date-time outside 0001-01-01..9999-12-31 (UTC), which a
 *   google.protobuf.Timestamp cannot carry.
 * - "ok".
 * The schema's format check and the range rule both ask, one after the other,
 * about the same string: the last answer is kept.
 */
export function timestampStatus(text: string): "ok" | "format" | "range" {
  if (text === lastText) return lastStatus;
  lastStatus = statusOf(text);
  lastText = text;
  return lastStatus;
}
let lastText: string | undefined;
let lastStatus: "ok" | "format" | "range" = "ok";

function statusOf(text: string): "ok" | "format" | "range" {
  return statusOfParts(scan(text));
}

function statusOfParts(t: Rfc3339Parts | undefined): "ok" | "format" | "range" {
  if (!t) return "format";
  const leap = t.year % 4 === 0 && (t.year % 100 !== 0 || t.year % 400 === 0);
  if (t.month < 1 || t.month > 12 || t.day < 1 || t.day > (t.month === 2 && leap ? 29 : DAYS_IN_MONTH[t.month]!))
    return "format";
  if (t.offsetHour > 23 || t.offsetMinute > 59 || t.hour > 23 || t.minute > 59 || t.second > 60) return "format";
  if (t.second === 60) {
    const utcMinuteOfDay = (((t.hour * 60 + t.minute - t.offsetMinutes) % 1440) + 1440) % 1440;
    if (utcMinuteOfDay !== 23 * 60 + 59) return "format";
  }
  const seconds = epochSeconds(t);
  return seconds < MIN_SECONDS || seconds > MAX_SECONDS ? "range" : "ok";
}

/** The JSON Schema "date-time" format (see timestampStatus). */
export function isRfc3339DateTime(text: string): boolean {
  return timestampStatus(text) !== "format";
}

function epochSeconds(t: Rfc3339Parts): number {
  // Plain numbers are exact here (|seconds| < 2^39).
  return (
    daysFromCivil(t.year, t.month, t.day) * 86400 + t.hour * 3600 + t.minute * 60 + t.second - t.offsetMinutes * 60
  );
}

/**
 * Why `text` is not an RFC 3339 date-time, in a few words for an error
 * message, when that can be said more precisely than "not a date-time"
 * (undefined otherwise).
 */
export function dateTimeProblem(text: string): string | undefined {
  if (text.length >= 11 && /^\d{4}-\d{2}-\d{2}$/.test(text.slice(0, 10)) && text[10] !== "T" && text[10] !== "t") {
    return `"T" (or "t") must separate the date and the time, not ${JSON.stringify(text[10])}`;
  }
  return undefined;
}

/**
 * The instant of text timestampStatus finds "ok", in plain numbers (exact:
 * |seconds| < 2^39); undefined for any other text. One scan, where
 * timestampStatus then parseTimestamp take two (import reads millions).
 */
export function timestampNumbers(text: string): { seconds: number; nanos: number } | undefined {
  const t = scan(text);
  if (statusOfParts(t) !== "ok") return undefined;
  return { seconds: epochSeconds(t!), nanos: nanosOf(t!.fraction) };
}

/** Parse RFC 3339 text (already checked by the schema's date-time format). */
export function parseTimestamp(text: string): Timestamp {
  const t = scan(text);
  if (!t) throw new RangeError(`not an RFC 3339 date-time: ${JSON.stringify(text)}`);
  const seconds = epochSeconds(t); // one BigInt at the end
  if (seconds < MIN_SECONDS || seconds > MAX_SECONDS) {
    throw new RangeError("is outside the Timestamp range 0001-01-01T00:00:00Z..9999-12-31T23:59:59Z");
  }
  return { seconds: BigInt(seconds), nanos: nanosOf(t.fraction) };
}

/** Fraction digits as nanoseconds (digits past the ninth cut). */
const nanosOf = (f: string) =>
  f === "" ? 0 : Number(f.length === 9 ? f : f.length > 9 ? f.slice(0, 9) : f.padEnd(9, "0"));

/** Format a Timestamp as RFC 3339 in UTC. Throws on an invalid Timestamp. */
export function formatTimestamp(ts: Timestamp): string {
  const seconds = Number(ts.seconds);
  const nanos = ts.nanos;
  if (!Number.isInteger(seconds) || seconds < MIN_SECONDS || seconds > MAX_SECONDS) {
    throw new RangeError(`seconds ${ts.seconds} is outside 0001-01-01..9999-12-31`);
  }
  if (!Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) {
    throw new RangeError(`nanos ${nanos} is outside 0..999999999`);
  }
  const days = Math.floor(seconds / 86400);
  const secOfDay = seconds - days * 86400;
  const [year, month, day] = civilFromDays(days);
  const hh = Math.floor(secOfDay / 3600);
  const mm = Math.floor((secOfDay % 3600) / 60);
  const ss = secOfDay % 60;
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(hh, 2)}:${pad(mm, 2)}:${pad(ss, 2)}${fraction(nanos)}Z`;
}

/** Timestamp of a JavaScript Date (milliseconds). */
export function timestampFromDate(date: Date): Timestamp {
  const ms = date.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds: BigInt(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}

function fraction(nanos: number): string {
  if (nanos === 0) return "";
  if (nanos % 1_000_000 === 0) return `.${pad(nanos / 1_000_000, 3)}`;
  if (nanos % 1_000 === 0) return `.${pad(nanos / 1_000, 6)}`;
  return `.${pad(nanos, 9)}`;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

// Howard Hinnant's civil-calendar algorithms (proleptic Gregorian), which,
// unlike Date.UTC, do not remap years 0-99 to 1900-1999.
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(z: number): [number, number, number] {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp + (mp < 10 ? 3 : -9);
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}
