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
import {
  decodeMessage,
  decodeUtf8Strictly,
  encodeMessage,
  encodeMessageBytes,
  unreadLazyStruct,
} from "../src/bridge/codec.js";
import {
  sessionEndEventMapping,
  sessionStartEventMapping,
  vrpEventMapping,
  type MessageMapping,
} from "../src/bridge/mapping.js";
import { ValidationError } from "../src/contract/errors.js";
import {
  SessionEndEvent as EndMessage,
  SessionStartEvent as StartMessage,
} from "../gen/oneiric/session/v1/session_events.js";
import { VrpEvent as VrpMessage } from "../gen/vrp/v1alpha1/vrp_event.js";
import * as arb from "./support/arbitraries.js";
import { validEnd } from "./support/fixtures.js";

interface Generated {
  encode(message: never, writer?: BinaryWriter): BinaryWriter;
  decode(input: BinaryReader | Uint8Array): unknown;
}
const TYPES: {
  name: string;
  mapping: MessageMapping;
  type: Generated;
  json: fc.Arbitrary<unknown>;
  message: fc.Arbitrary<unknown>;
}[] = [
  {
    name: "SessionStartEvent",
    mapping: sessionStartEventMapping,
    type: StartMessage as unknown as Generated,
    json: arb.sessionStartJson,
    message: arb.sessionStartMessage,
  },
  {
    name: "SessionEndEvent",
    mapping: sessionEndEventMapping,
    type: EndMessage as unknown as Generated,
    json: arb.sessionEndJson,
    message: arb.sessionEndMessage,
  },
  {
    name: "VrpEvent",
    mapping: vrpEventMapping,
    type: VrpMessage as unknown as Generated,
    json: arb.vrpJson,
    message: arb.vrpMessage,
  },
];
const bridgeOf = (name: string) => bridges[name as "VrpEvent"] as unknown as { fromJson(j: unknown): unknown };
const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
const tsProtoDecode = (type: Generated, bytes: Uint8Array) => type.decode(new BinaryReader(bytes, decodeUtf8Strictly));

for (const { name, mapping, type, json, message } of TYPES) {
  test(`${name}: encodeMessage writes ts-proto's bytes; decodeMessage reads ts-proto's message (sealed or not)`, () => {
    const messages = fc.oneof(
      json.map((j) => bridgeOf(name).fromJson(j)),
      message,
    );
    fc.assert(
      fc.property(messages, (m) => {
        const bytes = type.encode(m as never).finish();
        assert.ok(same(encodeMessage(mapping, m as object).finish(), bytes));
        const expected = tsProtoDecode(type, bytes);
        assert.equal(decodeMessage(mapping, bytes), expected);
        const lazy = () =>
          decodeMessage<Record<string, unknown>>(mapping, bytes, { lazyStructs: true, lazyStructMinBytes: 0 });
        // Unread, its free-form field is written back from its checked bytes; read, from its object.
        assert.ok(same(encodeMessage(mapping, lazy()).finish(), bytes));
        assert.ok(same(encodeMessageBytes(mapping, lazy()), bytes));
        const read = lazy();
        assert.equal(read, expected);
        assert.ok(same(encodeMessage(mapping, read).finish(), bytes));
        assert.ok(same(encodeMessageBytes(mapping, read), bytes));
      }),
      { numRuns: 150, seed: 42 },
    );
  });

  test(`${name}: on mutated bytes, wherever ts-proto reads a message, decodeMessage reads the same one or names a rule of its own`, () => {
    const mutated = fc.tuple(
      json,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom("set", "insert", "delete")), {
        minLength: 1,
        maxLength: 4,
      }),
    );
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
          assert.ok(
            e.issues.every((i) => i.rule === "forbidden_key" || i.rule === "max_depth"),
            e.message,
          );
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

test("lazily held Structs: bytes that are plain but not ts-proto's own are kept as they came and mean the same; unusual ones are decoded as ts-proto does", () => {
  const cases = [
    endWithEntries([
      ["b", num(1)],
      ["1", num(2)],
    ]), // JavaScript enumerates "1" first
    endWithEntries([
      ["a", num(1)],
      ["a", num(2)],
    ]), // the last wins, in the first one's place
    endWithEntries([["a", valueBytes((w) => w.uint32(32).uint32(2))]]), // bool written as 2
    endWithEntries([["", num(1)]]), // an empty key written out
    endWithEntries([["a", valueBytes((w) => w.uint32(17).double(1).uint32(26).string("x"))]]), // two kinds: unusual
    endWithEntries([["a", valueBytes((w) => w.uint32(8).uint32(3))]]), // null_value 3: unusual
    endWithEntries([["a", new Uint8Array()]]), // an empty Value: unusual (ts-proto drops the entry)
    endWithEntries([["a", valueBytes((w) => w.uint32(17).double(1).uint32(800).uint32(1))]]), // an unknown field: unusual
  ];
  for (const bytes of cases) {
    const expected = EndMessage.decode(bytes);
    const message = decodeMessage<Record<string, unknown>>(sessionEndEventMapping, bytes, {
      lazyStructs: true,
      lazyStructMinBytes: 0,
    });
    const written = encodeMessage(sessionEndEventMapping, message).finish();
    assert.equal(EndMessage.decode(written), expected);
    assert.equal(message, expected);
  }
});

test("lazily held Structs are checked on their bytes, with the path and rule validation gives", () => {
  const deep = (levels: number): Uint8Array => {
    let value = num(1);
    for (let i = levels; i > 1; i--)
      value = valueBytes((w) =>
        w.uint32(42).fork().uint32(10).fork().uint32(10).string(`k${i}`).uint32(18).bytes(value).join().join(),
      );
    return value;
  };
  const refused: [Uint8Array, string, string][] = [
    [endWithEntries([["n", num(Number.NaN)]]), "/metadata/n", "json_value"],
    [
      endWithEntries([
        ["list", valueBytes((w) => w.uint32(50).fork().uint32(10).bytes(num(Number.POSITIVE_INFINITY)).join())],
      ]),
      "/metadata/list/0",
      "json_value",
    ],
    [endWithEntries([["constructor", num(1)]]), "/metadata/constructor", "forbidden_key"],
    [
      endWithEntries([
        [
          "a/b",
          valueBytes((w) =>
            w.uint32(42).fork().uint32(10).fork().uint32(10).string("__proto__").uint32(18).bytes(num(1)).join().join(),
          ),
        ],
      ]),
      "/metadata/a~1b/__proto__",
      "forbidden_key",
    ],
    [
      endWithEntries([["k1", deep(33)]]),
      `/metadata/k1/${Array.from({ length: 32 }, (_, i) => `k${i + 2}`).join("/")}`,
      "max_depth",
    ],
  ];
  for (const [bytes, path, rule] of refused) {
    let issues: { path: string; rule: string }[] = [];
    try {
      decodeMessage(sessionEndEventMapping, bytes, { lazyStructs: true, lazyStructMinBytes: 0 });
    } catch (e) {
      issues = (e as ValidationError).issues.map((i) => ({ path: i.path, rule: i.rule }));
    }
    assert.equal(issues, [{ path, rule }]);
  }
  // Not UTF-8, as the strict decoder says it.
  let error: unknown;
  try {
    decodeMessage(
      sessionEndEventMapping,
      endWithEntries([["s", valueBytes((w) => w.uint32(26).bytes(Uint8Array.of(0x61, 0xff)))]]),
      { lazyStructs: true, lazyStructMinBytes: 0 },
    );
  } catch (e) {
    error = e;
  }
  assert.equal(
    (error as ValidationError).issues.map((i) => [i.path, i.rule]),
    [["", "protobuf"]],
  );
  // An empty list item is unusual: decoded as ts-proto does, and validation refuses it.
  const hole = decodeMessage(
    sessionEndEventMapping,
    endWithEntries([["x", valueBytes((w) => w.uint32(50).fork().uint32(10).fork().join().join())]]),
    { lazyStructs: true, lazyStructMinBytes: 0 },
  );
  assert.throws(
    () => bridges.SessionEndEvent.toJson(hole as never),
    (e: ValidationError) => e.issues.some((i) => i.path === "/metadata/x/0" && i.rule === "json_value"),
  );
});

test("a lazily held Struct is built once, when first read, through the message or its contract JSON alike; assigning replaces it", () => {
  const json = { ...validEnd(), metadata: { list: [1, { deep: true }], nested: { s: "x" } } };
  const message = decodeMessage<{ metadata: Record<string, unknown> }>(
    sessionEndEventMapping,
    bridges.SessionEndEvent.toBinary(json),
    { lazyStructs: true, lazyStructMinBytes: 0 },
  );
  const contract = bridges.SessionEndEvent.toJson(message as never); // validated without building it
  assert.ok(unreadLazyStruct(message, "metadata"));
  assert.equal(contract.metadata, json.metadata);
  assert.not.ok(unreadLazyStruct(message, "metadata"));
  assert.is(contract.metadata, message.metadata);
  assert.equal(Object.keys(contract), Object.keys(json));
  message.metadata = { other: 1 };
  assert.equal(EndMessage.decode(encodeMessage(sessionEndEventMapping, message).finish()).metadata, { other: 1 });
  assert.equal(contract.metadata, json.metadata);
});

test.run();
