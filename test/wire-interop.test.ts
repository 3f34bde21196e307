/**
 * Wire compatibility, checked by a second implementation: google-protobuf
 * reads, field by field, what the generated code writes, and what
 * google-protobuf writes decodes with the generated code.
 */
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as sessionPb from "../gen/oneiric/session/v1/session_events.js";
import * as servicePb from "../gen/oneiric/session/v1/session_service.js";
import * as vrpPb from "../gen/vrp/v1alpha1/vrp_event.js";
import * as vrpServicePb from "../gen/vrp/v1alpha1/vrp_service.js";
import * as arb from "./support/arbitraries.js";
import { jsonToStruct, jspbDecode, jspbEncode, structToJson } from "./support/jspb-codec.js";
import { protoMessage } from "./support/repo.js";

// biome-ignore lint/suspicious/noExplicitAny: generic messages built and compared field by field, and one table of differently typed generated codecs
type Untyped = any;
type Obj = Record<string, Untyped>;
const RUNS = { numRuns: 200 };

/**
 * ts-proto message (camelCase, Struct as a plain object) <-> the generic shape
 * (proto names, Struct as entries), walking the descriptor.
 */
function toGeneric(typeName: string, m: Obj): Obj {
  if (typeName === ".google.protobuf.Struct") return jsonToStruct(m);
  const out: Obj = {};
  for (const f of protoMessage(typeName).descriptor.field ?? []) {
    let v = m[f.jsonName];
    if (v === undefined) continue;
    if (f.oneofIndex !== undefined && !f.proto3Optional) continue; // oneofs handled below
    if (f.type === "TYPE_MESSAGE")
      v = f.label === "LABEL_REPEATED" ? v.map((x: Obj) => toGeneric(f.typeName!, x)) : toGeneric(f.typeName!, v);
    out[f.name] = v;
  }
  // ts-proto oneof=unions-value: { kind: { $case: "ack", value } }
  for (const [key, union] of Object.entries(m)) {
    if (union && typeof union === "object" && "$case" in union) {
      const f = protoMessage(typeName).descriptor.field!.find((x) => x.jsonName === union.$case)!;
      out[f.name] = f.type === "TYPE_MESSAGE" ? toGeneric(f.typeName!, union.value) : union.value;
      void key;
    }
  }
  return out;
}

/** The generic decode, with Structs turned into plain JSON, keyed by jsonName: comparable with ts-proto. */
function fromGeneric(typeName: string, g: Obj): Obj {
  if (typeName === ".google.protobuf.Struct") return structToJson(g);
  const out: Obj = {};
  for (const f of protoMessage(typeName).descriptor.field ?? []) {
    if (!(f.name in g)) continue;
    let v = g[f.name];
    if (f.type === "TYPE_MESSAGE")
      v = f.label === "LABEL_REPEATED" ? v.map((x: Obj) => fromGeneric(f.typeName!, x)) : fromGeneric(f.typeName!, v);
    out[f.jsonName] = v;
  }
  return out;
}

/** ts-proto's message with unset/default fields dropped, as the wire would show it. */
function asOnWire(typeName: string, m: Obj): Obj {
  return fromGeneric(typeName, jspbDecode(typeName, encodeWithGenerated(typeName, m)));
}

const generated: Record<
  string,
  { encode(m: Untyped): { finish(): Uint8Array }; decode(b: Uint8Array): Untyped; fromPartial(m: Untyped): Untyped }
> = {
  ".oneiric.session.v1.SessionStartEvent": sessionPb.SessionStartEvent,
  ".oneiric.session.v1.SessionEndEvent": sessionPb.SessionEndEvent,
  ".vrp.v1alpha1.VrpEvent": vrpPb.VrpEvent,
  ".oneiric.session.v1.Session": servicePb.Session,
  ".oneiric.session.v1.ListSessionsRequest": servicePb.ListSessionsRequest,
  ".vrp.v1alpha1.StreamEventsResponse": vrpServicePb.StreamEventsResponse,
  ".vrp.v1alpha1.SubscribeResponse": vrpServicePb.SubscribeResponse,
};
const encodeWithGenerated = (typeName: string, m: Obj) =>
  generated[typeName]!.encode(generated[typeName]!.fromPartial(m)).finish();

/** Drop what proto3 does not put on the wire (implicit-presence defaults), for comparison. */
function withoutDefaults(typeName: string, m: Obj): Obj {
  if (typeName === ".google.protobuf.Struct") return m;
  const out: Obj = {};
  for (const f of protoMessage(typeName).descriptor.field ?? []) {
    const v = m[f.jsonName];
    if (v === undefined) continue;
    const explicit = f.proto3Optional || f.type === "TYPE_MESSAGE";
    if (!explicit && (v === "" || v === 0 || v === 0n || v === false)) continue;
    if (f.label === "LABEL_REPEATED") {
      if (!Array.isArray(v) || v.length === 0) continue; // an empty repeated field is not on the wire
      out[f.jsonName] = f.type === "TYPE_MESSAGE" ? v.map((e: Obj) => withoutDefaults(f.typeName!, e)) : v;
      continue;
    }
    out[f.jsonName] = f.type === "TYPE_MESSAGE" ? withoutDefaults(f.typeName!, v) : v;
  }
  return out;
}

const eventCases: [string, fc.Arbitrary<Obj>][] = [
  [".oneiric.session.v1.SessionStartEvent", arb.sessionStartMessage],
  [".oneiric.session.v1.SessionEndEvent", arb.sessionEndMessage],
  [".vrp.v1alpha1.VrpEvent", arb.vrpMessage],
];

for (const [typeName, message] of eventCases) {
  test(`${typeName}: google-protobuf reads what ts-proto writes, field by field`, () => {
    fc.assert(
      fc.property(message, (m) => {
        const decoded = fromGeneric(typeName, jspbDecode(typeName, encodeWithGenerated(typeName, m)));
        assert.equal(decoded, withoutDefaults(typeName, m));
      }),
      RUNS,
    );
  });
  test(`${typeName}: ts-proto reads what google-protobuf writes`, () => {
    fc.assert(
      fc.property(message, (m) => {
        const bytes = jspbEncode(typeName, toGeneric(typeName, m));
        assert.equal(generated[typeName]!.decode(bytes), generated[typeName]!.fromPartial(m));
      }),
      RUNS,
    );
  });
}

test("service messages: nested events, enums, repeated fields, oneofs", () => {
  const start = sessionPb.SessionStartEvent.fromPartial({
    eventVersion: "1.0",
    eventId: "e",
    componentName: "c",
    pid: 7,
    timestamp: { seconds: 1n, nanos: 2 },
    metadata: { k: [1, "two", null] },
  });
  const samples: [string, Obj][] = [
    [
      ".oneiric.session.v1.Session",
      {
        sessionId: "s",
        status: servicePb.SessionStatus.SESSION_STATUS_ENDED,
        start,
        end: { sessionId: "s", timestamp: { seconds: 5n, nanos: 0 } },
        durationMs: 4000n,
      },
    ],
    [
      ".oneiric.session.v1.ListSessionsRequest",
      {
        componentName: "c",
        status: servicePb.SessionStatus.SESSION_STATUS_OPEN,
        startedAfter: { seconds: -10n, nanos: 0 },
        pageSize: 50,
        pageToken: "t",
      },
    ],
    [
      ".vrp.v1alpha1.StreamEventsResponse",
      { kind: { $case: "ack", value: { acceptedCount: 3n, sequence: 2n ** 63n + 5n } } },
    ],
    [
      ".vrp.v1alpha1.StreamEventsResponse",
      { kind: { $case: "rejection", value: { index: 0n, reason: "/ts_ms: must be integer" } } },
    ],
    [
      ".vrp.v1alpha1.StreamEventsResponse",
      {
        kind: {
          $case: "rejection",
          value: {
            index: 4n,
            reason: "/event/ts_ms: must be integer [type]",
            code: "INVALID_ARGUMENT",
            fieldViolations: [{ path: "/event/ts_ms", rule: "type", message: "must be integer" }],
          },
        },
      },
    ],
    [
      ".vrp.v1alpha1.SubscribeResponse",
      { sequence: 9n, event: { tsMs: 1n, eventType: "AUDIT_EVENT", sessionId: "s", details: { rule: "DUAL_ACTIVE" } } },
    ],
  ];
  for (const [typeName, m] of samples) {
    const type = generated[typeName]!;
    assert.equal(
      type.decode(jspbEncode(typeName, toGeneric(typeName, type.fromPartial(m)))),
      type.fromPartial(m),
      typeName,
    );
    assert.equal(
      asOnWire(typeName, m),
      withoutDefaults(typeName, toGenericCamel(typeName, type.fromPartial(m))),
      typeName,
    );
  }
});

/** ts-proto's oneof unions flattened to plain fields, to compare with a generic decode. */
function toGenericCamel(typeName: string, m: Obj): Obj {
  return fromGeneric(typeName, toGeneric(typeName, m));
}

test.run();
