/**
 * The hand tables that name protobuf fields agree with the descriptor set of
 * proto/ (gen/descriptors.binpb): the bridge mapping, the archive's LogEntry
 * kinds, and the strict decoder's requests. A .proto change that one of them
 * misses fails here, instead of skipping a `__proto__` scan in silence.
 */
import type { DescMessage } from "@bufbuild/protobuf";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ENTRY_KINDS } from "../src/archive/codec.js";
import { EVENT_TYPES } from "../src/archive/event.js";
import { fieldKindOf } from "../src/bridge/descriptor-fields.js";
import { MAPPINGS, type MessageMapping } from "../src/bridge/mapping.js";
import { descriptorRegistry, messageDescriptor } from "../src/descriptors.js";
import { requestMapping } from "../src/server/strict-decode.js";

/** A mapping's fields as the descriptors say they must be, as comparable lines. */
function expectedFields(message: DescMessage): string[] {
  return message.fields
    .map(
      (f) =>
        `${f.number} ${f.name} ${f.localName} ${fieldKindOf(f)}${f.proto.proto3Optional ? " optional" : ""}${f.fieldKind === "message" && fieldKindOf(f) === "message" ? ` ${f.message.typeName}` : ""}`,
    )
    .sort();
}
function mappedFields(mapping: MessageMapping): string[] {
  return mapping.fields
    .map(
      (f) =>
        `${f.number} ${f.json} ${f.proto} ${f.kind}${f.optional ? " optional" : ""}${f.message ? ` ${f.message.protoName}` : ""}`,
    )
    .sort();
}

for (const mapping of MAPPINGS) {
  test(`bridge mapping ${mapping.name}: every field of ${mapping.protoName}, as the descriptors say`, () => {
    assert.equal(mappedFields(mapping), expectedFields(messageDescriptor(mapping.protoName)));
  });
}

test("the drift check can fail: a renumbered field is caught", () => {
  const drifted: MessageMapping = {
    ...MAPPINGS[0]!,
    fields: MAPPINGS[0]!.fields.map((f, i) => (i === 0 ? { ...f, number: 99 } : f)),
  };
  assert.not.equal(mappedFields(drifted), expectedFields(messageDescriptor(drifted.protoName)));
});

test("ENTRY_KINDS is LogEntry's oneof: each member that holds an event, its numbers, its wrapper fields", () => {
  const logEntry = messageDescriptor("sessionevents.log.v1.LogEntry");
  const withEvent = logEntry.oneofs
    .find((o) => o.name === "entry")!
    .fields.filter((f) => f.message?.fields.some((g) => g.name === "event"));
  assert.equal(Object.keys(ENTRY_KINDS).sort(), withEvent.map((f) => f.name).sort());
  for (const member of withEvent) {
    const info = ENTRY_KINDS[member.name as keyof typeof ENTRY_KINDS];
    const wrapper = member.message!;
    const event = wrapper.fields.find((f) => f.name === "event")!;
    assert.is(info.number, member.number, member.name);
    assert.is(info.case, member.localName, member.name);
    assert.is(info.eventNumber, event.number, member.name);
    assert.is(EVENT_TYPES[info.type].mapping.protoName, event.message!.typeName, member.name);
    const fields = wrapper.fields.filter((f) => f !== event).map((f) => `${f.name} ${f.localName} ${fieldKindOf(f)}`);
    assert.equal(
      info.fields.map((f) => `${f.json} ${f.proto} ${f.kind}`),
      fields,
      member.name,
    );
  }
});

/** Whether a message holds a google.protobuf.Struct anywhere inside it. */
function holdsStruct(message: DescMessage, seen = new Set<string>()): boolean {
  if (message.typeName === "google.protobuf.Struct") return true;
  if (seen.has(message.typeName)) return false;
  seen.add(message.typeName);
  return message.fields.some((f) => f.message !== undefined && holdsStruct(f.message, seen));
}

test("every request that can carry a Struct is decoded strictly: its event mapped, every other field listed", () => {
  const registry = descriptorRegistry();
  const requests = ["oneiric.session.v1.SessionService", "vrp.v1alpha1.VrpStreamService"].flatMap((s) =>
    registry.getService(s)!.methods.map((m) => m.input),
  );
  const risky = requests.filter((r) => holdsStruct(r));
  assert.equal(risky.map((r) => r.typeName).sort(), [
    "oneiric.session.v1.EmitSessionEndRequest",
    "oneiric.session.v1.EmitSessionStartRequest",
    "vrp.v1alpha1.StreamEventsRequest",
  ]);
  for (const request of risky) {
    const event = request.fields.find((f) => f.number === 1)!;
    const eventMapping = MAPPINGS.find((m) => m.protoName === event.message?.typeName);
    assert.ok(eventMapping, `${request.typeName}: its event ${event.message?.typeName} has a bridge mapping`);
    const mapping = requestMapping(request.typeName, eventMapping);
    assert.equal(
      mapping.fields.map((f) => f.number).sort(),
      request.fields.map((f) => f.number).sort(),
      request.typeName,
    );
  }
});

test.run();
