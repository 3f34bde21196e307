/** RFC 3339 <-> Timestamp: exact instants, stated normalisations, clear limits. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  formatTimestamp,
  isRfc3339DateTime,
  parseTimestamp,
  timestampFromDate,
  timestampNumbers,
  timestampStatus,
} from "../src/contract/timestamp.js";

const roundTrip = (text: string) => formatTimestamp(parseTimestamp(text));

test("canonical UTC text round-trips exactly", () => {
  for (const t of [
    "2026-02-06T12:34:56.789Z",
    "2026-02-06T12:34:56Z",
    "1970-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999999Z",
    "1969-12-31T23:59:59.000001Z",
  ]) {
    assert.is(roundTrip(t), t);
  }
});

test("known instants", () => {
  assert.equal(parseTimestamp("1970-01-01T00:00:00Z"), { seconds: 0n, nanos: 0 });
  assert.equal(parseTimestamp("1969-12-31T23:59:59.5Z"), { seconds: -1n, nanos: 500_000_000 });
  assert.equal(parseTimestamp("2000-03-01T00:00:00Z"), { seconds: 951868800n, nanos: 0 });
  assert.equal(parseTimestamp("0001-01-01T00:00:00Z"), { seconds: -62135596800n, nanos: 0 });
  assert.equal(parseTimestamp("0099-06-01T00:00:00Z").seconds, BigInt(Date.parse("0099-06-01T00:00:00Z") / 1000));
});

test("offsets are applied and written back as Z", () => {
  assert.is(roundTrip("2026-02-06T14:34:56+02:00"), "2026-02-06T12:34:56Z");
  assert.is(roundTrip("2026-02-06T00:30:00-01:00"), "2026-02-06T01:30:00Z");
  assert.is(roundTrip("2026-01-01T00:30:00+01:00"), "2025-12-31T23:30:00Z");
});

test("fractions are written with 3, 6 or 9 digits; digits past nanoseconds are cut", () => {
  assert.is(roundTrip("2026-02-06T12:34:56.7Z"), "2026-02-06T12:34:56.700Z");
  assert.is(roundTrip("2026-02-06T12:34:56.1234Z"), "2026-02-06T12:34:56.123400Z");
  assert.is(roundTrip("2026-02-06T12:34:56.1234567891Z"), "2026-02-06T12:34:56.123456789Z");
  assert.is(roundTrip("2026-02-06T12:34:56.000Z"), "2026-02-06T12:34:56Z");
});

test("lower-case t/z are read; a space separator is refused (RFC 3339's grammar requires T)", () => {
  assert.is(roundTrip("2026-02-06t12:34:56z"), "2026-02-06T12:34:56Z");
  assert.is(roundTrip("2026-02-06t12:34:56.5+01:00"), "2026-02-06T11:34:56.500Z");
  assert.throws(() => parseTimestamp("2026-02-06 12:34:56Z"), /not an RFC 3339 date-time/);
});

test("a leap second is the first second of the next day", () => {
  assert.is(roundTrip("2016-12-31T23:59:60Z"), "2017-01-01T00:00:00Z");
});

test("outside 0001..9999 is refused", () => {
  assert.throws(() => parseTimestamp("0000-12-31T23:59:59Z"), /outside the Timestamp range/);
  assert.throws(() => parseTimestamp("0001-01-01T00:00:00+00:01"), /outside the Timestamp range/);
  assert.throws(() => formatTimestamp({ seconds: 253402300800n, nanos: 0 }), /outside/);
  assert.throws(() => formatTimestamp({ seconds: 0n, nanos: -1 }), /nanos/);
});

test("dates before 1970 and far ahead agree with Date for whole milliseconds", () => {
  for (const ms of [-1, -86_400_001, 0, 1, 1_700_000_000_123, 253402300799999, -62135596800000]) {
    const ts = timestampFromDate(new Date(ms));
    assert.is(formatTimestamp(ts), new Date(ms).toISOString().replace(/\.000Z$/, "Z"));
  }
});

test("the date-time format: RFC 3339 section 5.6, with the calendar and leap-second rules", () => {
  const valid = [
    "2026-02-06T12:34:56.789Z",
    "2024-02-29T00:00:00Z",
    "2000-02-29T00:00:00Z",
    "2016-12-31T23:59:60Z",
    "2017-01-01T00:59:60+01:00",
    "2016-12-31T22:59:60-01:00",
    "2026-02-06t12:34:56z",
    "2026-02-06t12:34:56+05:30",
    "0001-01-01T00:00:00Z",
  ];
  const invalid = [
    "2026-02-06T13:45:67.890Z",
    "1900-02-29T00:00:00Z",
    "2026-04-31T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-00-01T00:00:00Z",
    "2026-02-06T12:34:60Z",
    "2026-02-06T12:34:56+0100",
    "2026-02-06T12:34:56+01",
    "2026-02-06",
    "2026-02-06T12:34:56",
    "2026-02-06T12:34Z",
    " 2026-02-06T12:34:56Z",
    "2026-02-06T12:34:56Z\n",
    "2026-02-06T12:34:56.Z",
    "2026-02-06 12:34:56Z",
    "2026-02-06 12:34:56+05:30",
    "2026-02-06_12:34:56Z",
    "2026-02-06\u00a012:34:56Z",
  ];
  for (const t of valid) assert.ok(isRfc3339DateTime(t), t);
  for (const t of invalid) assert.not.ok(isRfc3339DateTime(t), t);
});

test("timestampNumbers (import's one scan) is timestampStatus then parseTimestamp, in numbers", () => {
  const texts = [
    "2026-02-06T12:34:56.789Z",
    "2016-12-31T23:59:60Z",
    "2017-01-01T00:59:60+01:00",
    "2026-02-06t12:34:56.1234567891+05:30",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999999Z",
    "0001-01-01T00:00:00+00:01", // valid text, before 0001-01-01 UTC: "range"
    "9999-12-31T23:59:59-00:01", // after 9999: "range"
    "1900-02-29T00:00:00Z",
    "2026-02-06T12:34:56+0100",
    "2026-02-06 12:34:56Z",
    "",
  ];
  for (const text of texts) {
    const status = timestampStatus(text);
    const numbers = timestampNumbers(text);
    if (status !== "ok") {
      assert.is(numbers, undefined, `${text}: ${status}`);
      continue;
    }
    const ts = parseTimestamp(text);
    assert.equal(numbers, { seconds: Number(ts.seconds), nanos: ts.nanos }, text);
  }
});

test.run();
