/**
 * The hub's log records written with the contract codec (src/collector/vrp-log-entries.ts)
 * against the generated LogEntry.encode: the same bytes, on generated events,
 * producers and sequences, and for a large Struct held as its bytes; and one
 * failure does not leave the next record half written.
 */
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bridges } from "../src/bridge/index.js";
import { decodeMessage, unreadLazyStruct } from "../src/bridge/codec.js";
import { vrpEventMapping } from "../src/bridge/mapping.js";
import { vrpDerivedEntry, vrpReceivedEntry } from "../src/collector/vrp-log-entries.js";
import { LogEntry } from "../gen/sessionevents/log/v1/log_entry.js";
import { VrpEvent as VrpMessage, type VrpEvent } from "../gen/vrp/v1alpha1/vrp_event.js";
import * as arb from "./support/arbitraries.js";

const timestamp = fc.record({
  seconds: fc.bigInt({ min: 0n, max: 253402300799n }),
  nanos: fc.integer({ min: 0, max: 999_999_999 }),
});
const uint64 = fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }));
const event = arb.vrpJson.map((json) => bridges.VrpEvent.fromJson(json));

test("vrp_received: the generated encoder's bytes", () => {
  fc.assert(
    fc.property(timestamp, event, fc.string(), uint64, (receivedAt, e, producerId, producerSequence) => {
      const expected = LogEntry.encode({
        receivedAt,
        entry: { $case: "vrpReceived", value: { event: e, producerId, producerSequence } },
      }).finish();
      assert.equal(Buffer.from(vrpReceivedEntry(receivedAt, e, producerId, producerSequence)), Buffer.from(expected));
    }),
    { numRuns: 300 },
  );
});

test("vrp_derived: the generated encoder's bytes", () => {
  fc.assert(
    fc.property(timestamp, event, uint64, (receivedAt, e, causeSequence) => {
      const expected = LogEntry.encode({
        receivedAt,
        entry: { $case: "vrpDerived", value: { event: e, causeSequence } },
      }).finish();
      assert.equal(Buffer.from(vrpDerivedEntry(receivedAt, e, causeSequence)), Buffer.from(expected));
    }),
    { numRuns: 300 },
  );
});

test("a large details Struct the server kept as bytes is written as those bytes, not built", () => {
  const details = Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`k${i}`, i % 2 ? `v${i}` : i]));
  const bytes = VrpMessage.encode(
    bridges.VrpEvent.fromJson({ ts_ms: 5, event_type: "PATH_SELECTED", session_id: "s", details }),
  ).finish();
  const lazy = decodeMessage<VrpEvent>(vrpEventMapping, bytes, { lazyStructs: true });
  assert.ok(unreadLazyStruct(lazy, "details"), "the fixture's details are held as bytes");
  const receivedAt = { seconds: 9n, nanos: 0 };
  const written = vrpReceivedEntry(receivedAt, lazy, "", 0n);
  assert.ok(unreadLazyStruct(lazy, "details"), "writing the record built the Struct");
  const expected = LogEntry.encode({
    receivedAt,
    entry: { $case: "vrpReceived", value: { event: VrpMessage.decode(bytes), producerId: "", producerSequence: 0n } },
  }).finish();
  assert.equal(Buffer.from(written), Buffer.from(expected));
});

test("a record that cannot be written throws, and the next one is whole", () => {
  const receivedAt = { seconds: 1n, nanos: 2 };
  const e = bridges.VrpEvent.fromJson({ ts_ms: 1, event_type: "MUTATION_TICK", session_id: "s" });
  assert.throws(() => vrpReceivedEntry(receivedAt, e, "p", 2n ** 64n), /uint64/);
  const bad = { ...e, details: { x: () => 1 } } as unknown as VrpEvent;
  assert.throws(() => vrpDerivedEntry(receivedAt, bad, 3n));
  const expected = LogEntry.encode({
    receivedAt,
    entry: { $case: "vrpReceived", value: { event: e, producerId: "p", producerSequence: 7n } },
  }).finish();
  assert.equal(Buffer.from(vrpReceivedEntry(receivedAt, e, "p", 7n)), Buffer.from(expected));
});

test.run();
