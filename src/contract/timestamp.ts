/**
 * RFC 3339 text <-> google.protobuf.Timestamp, exact to the nanosecond.
 *
 * What round-trips and what is normalised (JSON -> proto -> JSON):
 * - The instant is kept exactly, to the nanosecond.
 * - The offset is not: every timestamp is written back in UTC with "Z"
 *   ("2026-02-06T14:34:56+01:00" comes back as "2026-02-06T13:34:56Z").
 * - Fractions are written with 0, 3, 6 or 9 digits, as protobuf's canonical
 *   JSON does (".7" comes back as ".700"); digits past nanoseconds are cut.
 * - "t", "z" and a space separator are read (RFC 3339 allows them) and written
 *   as "T" and "Z".
 * - A leap second (23:59:60Z) is read as the first second of the next day,
 *   as POSIX time and protobuf's "smeared" Timestamp count it.
 * Valid Timestamps span 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
 */
import type { Timestamp } from "../../gen/google/protobuf/timestamp.js";

export const MIN_TIMESTAMP_SECONDS = -62135596800n; // 0001-01-01T00:00:00Z
export const MAX_TIMESTAMP_SECONDS = 253402300799n; // 9999-12-31T23:59:59Z
const MIN_SECONDS = Number(MIN_TIMESTAMP_SECONDS);
const MAX_SECONDS = Number(MAX_TIMESTAMP_SECONDS);

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/** Whether text has RFC 3339 date-time syntax (the schema checks the calendar). */
export function isRfc3339(text: string): boolean {
  return RFC3339.test(text);
}

/** Parse RFC 3339 text (already checked by the schema's date-time format). */
export function parseTimestamp(text: string): Timestamp {
  const m = RFC3339.exec(text);
  if (!m) throw new RangeError(`not an RFC 3339 date-time: ${JSON.stringify(text)}`);
  const [, y, mo, d, h, mi, s, frac, sign, oh, om] = m;
  // Plain numbers are exact here (|seconds| < 2^39); one BigInt at the end.
  let seconds = daysFromCivil(Number(y), Number(mo), Number(d)) * 86400 + Number(h) * 3600 + Number(mi) * 60 + Number(s);
  if (sign) {
    const offset = Number(oh) * 3600 + Number(om) * 60;
    seconds += sign === "+" ? -offset : offset;
  }
  if (seconds < MIN_SECONDS || seconds > MAX_SECONDS) {
    throw new RangeError("is outside the Timestamp range 0001-01-01T00:00:00Z..9999-12-31T23:59:59Z");
  }
  const nanos = frac ? Number(frac.length === 9 ? frac : frac.slice(0, 9).padEnd(9, "0")) : 0;
  return { seconds: BigInt(seconds), nanos };
}

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
