/**
 * The contract messages' own codec (src/bridge/codec.ts) against ts-proto's
 * generated one: the same bytes out, the same messages in, on generated
 * events and on mutated bytes; and what sealing adds (checks while reading,
 * frozen objects, the original bytes reused only when they are exactly the
 * encoding).
 */
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bridges } from "../src/bridge/index.js";
import { decodeMessage, decodeUtf8Strictly, encodeMessage } from "../src/bridge/codec.js";
import { sessionEndEventMapping, sessionStartEventMapping, vrpEventMapping, type MessageMapping } from "../src/bridge/mapping.js";
import { ValidationError } from "../src/contract/errors.js";
import { SessionEndEvent as EndMessage, SessionStartEvent as StartMessage } from "../gen/oneiric/session/v1/session_events.js";
import { VrpEvent as VrpMessage } from "../gen/vrp/v1alpha1/vrp_event.js";
import { Struct } from "../gen/google/protobuf/struct.js";
import * as arb from "./support/arbitraries.js";
import { validEnd } from "./support/fixtures.js";

interface Generated {
  encode(message: never, writer?: BinaryWriter): BinaryWriter;
  decode(input: BinaryReader | Uint8Array): unknown;
}
const TYPES: { name: string; mapping: MessageMapping; type: Generated; json: fc.Arbitrary<unknown>; message: fc.Arbitrary<unknown> }[] = [
  { name: "SessionStartEvent", mapping: sessionStartEventMapping, type: StartMessage as unknown as Generated, json: arb.sessionStartJson, message: arb.sessionStartMessage },
  { name: "SessionEndEvent", mapping: sessionEndEventMapping, type: EndMessage as unknown as Generated, json: arb.sessionEndJson, message: arb.sessionEndMessage },
  { name: "VrpEvent", mapping: vrpEventMapping, type: VrpMessage as unknown as Generated, json: arb.vrpJson, message: arb.vrpMessage },
];
const bridgeOf = (name: string) => bridges[name as "VrpEvent"] as unknown as { fromJson(j: unknown): unknown };
const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
const tsProtoDecode = (type: Generated, bytes: Uint8Array) => type.decode(new BinaryReader(bytes, decodeUtf8Strictly));

for (const { name, mapping, type, json, message } of TYPES) {
  test(`${name}: encodeMessage writes ts-proto's bytes; decodeMessage reads ts-proto's message (sealed or not)`, () => {
    const messages = fc.oneof(json.map((j) => bridgeOf(name).fromJson(j)), message);
    fc.assert(
      fc.property(messages, (m) => {
        const bytes = type.encode(m as never).finish();
        assert.ok(same(encodeMessage(mapping, m as object).finish(), bytes));
        const expected = tsProtoDecode(type, bytes);
        assert.equal(decodeMessage(mapping, bytes), expected);
        const sealed = decodeMessage<Record<string, unknown>>(mapping, bytes, { seal: true });
        assert.equal(sealed, expected);
        // A sealed message encodes to the same bytes, from its kept bytes or afresh.
        assert.ok(same(encodeMessage(mapping, sealed).finish(), bytes));
        assert.ok(same(encodeMessage(mapping, sealed).finish(), bytes));
      }),
      { numRuns: 150, seed: 42 },
    );
  });

  test(`${name}: on mutated bytes, wherever ts-proto reads a message, decodeMessage reads the same one or names a rule of its own`, () => {
    const mutated = fc.tuple(json, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom("set", "insert", "delete")), { minLength: 1, maxLength: 4 }));
    fc.assert(
      fc.property(mutated, ([j, edits]) => {
        const bytes = [...type.encode(bridgeOf(name).fromJson(j) as never).finish()];
        for (const [at, byte, op] of edits) {
          const i = at % (bytes.length + 1);
          if (op === "set" && i < bytes.length) bytes[i] = byte;
          else if (op === "insert") bytes.splice(i, 0, byte);
          else bytes.splice(i, 1);
        }
        const input = Uint8Array.from(bytes);
        let expected: unknown;
        try {
          expected = tsProtoDecode(type, input);
        } catch {
          return; // ts-proto refuses it too
        }
        try {
          assert.equal(decodeMessage(mapping, input), expected);
        } catch (e) {
          if (!(e instanceof ValidationError)) throw e;
          assert.ok(e.issues.every((i) => i.rule === "forbidden_key" || i.rule === "max_depth"), e.message);
        }
      }),
      { numRuns: 400, seed: 7 },
    );
  });
}

/** SessionEndEvent bytes whose metadata Struct is written entry by entry, in the order given. */
function endWithEntries(entries: [string, Uint8Array][]): Uint8Array {
  const writer = new BinaryWriter();
  writer.uint32(18).string("sess_1");
  writer.uint32(26).fork().uint32(8).int64(1770000000n).join();
  writer.uint32(34).fork();
  for (const [key, value] of entries) writer.uint32(10).fork().uint32(10).string(key).uint32(18).bytes(value).join();
  return writer.join().finish();
}
const valueBytes = (build: (w: BinaryWriter) => void) => {
  const w = new BinaryWriter();
  build(w);
  return w.finish();
};
const num = (n: number) => valueBytes((w) => w.uint32(17).double(n));

test("a Struct whose bytes are not its encoding (keys JavaScript reorders, a key twice, a long varint) is encoded afresh", () => {
  const cases = [
    endWithEntries([["b", num(1)], ["1", num(2)]]), // "1" is enumerated first
    endWithEntries([["a", num(1)], ["a", num(2)]]), // the last wins, in the first one's place
    endWithEntries([["a", valueBytes((w) => w.uint32(32).uint32(2))]]), // bool written as 2
  ];
  for (const bytes of cases) {
    const sealed = decodeMessage<Record<string, unknown>>(sessionEndEventMapping, bytes, { seal: true });
    assert.ok(same(encodeMessage(sessionEndEventMapping, sealed).finish(), EndMessage.encode(EndMessage.decode(bytes)).finish()));
  }
});

test("sealing checks free-form values while reading, with the path and rule validation would give, and freezes them", () => {
  const refused: [Uint8Array, string, string][] = [
    [endWithEntries([["n", num(Number.NaN)]]), "/metadata/n", "json_value"],
    [endWithEntries([["x", valueBytes((w) => w.uint32(50).fork().uint32(10).fork().join().join())]]), "/metadata/x/0", "json_value"],
    [endWithEntries([["constructor", num(1)]]), "/metadata/constructor", "forbidden_key"],
    [endWithEntries([["__proto__", num(1)]]), "/metadata/__proto__", "forbidden_key"],
  ];
  for (const [bytes, path, rule] of refused) {
    let issues: { path: string; rule: string }[] = [];
    try {
      decodeMessage(sessionEndEventMapping, bytes, { seal: true });
    } catch (e) {
      issues = (e as ValidationError).issues.map((i) => ({ path: i.path, rule: i.rule }));
    }
    assert.equal(issues, [{ path, rule }]);
  }
  const json = { ...validEnd(), metadata: { list: [1, { deep: true }], nested: { s: "x" } } };
  const sealed = decodeMessage<{ metadata: Record<string, any> }>(sessionEndEventMapping, bridges.SessionEndEvent.toBinary(json), { seal: true });
  assert.ok(Object.isFrozen(sealed.metadata) && Object.isFrozen(sealed.metadata.list) && Object.isFrozen(sealed.metadata.list[1]) && Object.isFrozen(sealed.metadata.nested));
  assert.equal(bridges.SessionEndEvent.toJson(sealed as never).metadata, json.metadata);
});

test("a Struct key on the wire equals what Struct.encode writes for its object (ts-proto's own encoder as the reference)", () => {
  const metadata = { "ü": "é", "": 1, "a/b~c": [null, true, "x"], "🙂": { x: [] } };
  const bytes = Struct.encode(Struct.wrap(metadata)).finish();
  const end = EndMessage.encode({ ...bridges.SessionEndEvent.fromJson(validEnd()), metadata }).finish();
  assert.ok(bytes.length > 0);
  assert.ok(same(encodeMessage(sessionEndEventMapping, decodeMessage(sessionEndEventMapping, end, { seal: true })).finish(), end));
});

test.run();
