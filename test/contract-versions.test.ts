/**
 * The versioned contract: released versions by name, and validation that
 * judges each event by the schema of its own event_version among the
 * versions accepted (the fixture 1.1 adds an optional `region`).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { sessionValidators } from "../src/contract/versioned.js";
import {
  ContractVersions,
  RELEASED,
  RELEASED_CONTRACTS,
  UnknownVersionError,
  type ContractVersion,
} from "../src/contract/versions.js";
import { ValidationError } from "../src/contract/errors.js";
import { contractVersions, getAllSchemas, getSchema } from "../src/session/registry.js";
import { CONTRACT_1_1 } from "./fixtures/contracts.js";
import { validEnd, validStart } from "./support/fixtures.js";

const withFixture = new ContractVersions([
  ...RELEASED_CONTRACTS,
  { version: "1.1", schemas: CONTRACT_1_1.schemas } as unknown as ContractVersion,
]);
const start11 = () => ({ ...validStart(), event_version: "1.1", region: "eu-west-1" });
const issuesOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    if (e instanceof ValidationError) return e.issues.map((i) => `${i.path} ${i.rule}: ${i.message}`);
    throw e;
  }
  return [];
};

test("the registry answers per version; the default is the newest", () => {
  assert.equal(contractVersions(), ["1.0"]);
  assert.equal(RELEASED.current, "1.0");
  assert.equal(getSchema("SessionStartEvent", "1.0"), getSchema("SessionStartEvent"));
  assert.is(getSchema("SessionEndEvent", "1.0").event_version, "1.0");
  assert.equal(getAllSchemas("1.0"), getAllSchemas());
  assert.is(withFixture.current, "1.1");
  assert.equal(withFixture.versions, ["1.0", "1.1"]);
  assert.throws(
    () => getSchema("SessionStartEvent", "9.9"),
    (e: unknown) =>
      e instanceof UnknownVersionError && e.message === 'unknown contract version "9.9" (known versions: 1.0)',
  );
  assert.throws(() => getSchema("VrpEvent", "9.9"), /unknown contract version "9\.9"/);
  assert.throws(
    () => new ContractVersions([{ version: "1", schemas: RELEASED.get().schemas }]),
    /must be MAJOR\.MINOR/,
  );
});

test("in a window each event is judged by its own version's schema", () => {
  const v = sessionValidators(withFixture, ["1.0", "1.1"]);
  v.SessionStartEvent.assert(validStart());
  v.SessionStartEvent.assert(start11());
  assert.equal(
    issuesOf(() => v.SessionStartEvent.assert({ ...validStart(), region: "eu-west-1" })),
    ["/region unknown_property: is not a field of this contract (free-form data belongs under metadata/details)"],
  );
  assert.equal(
    issuesOf(() => v.SessionStartEvent.assert({ ...start11(), region: "x".repeat(65) })),
    ["/region maxLength: must NOT have more than 64 characters"],
  );
  assert.equal(
    issuesOf(() => v.SessionStartEvent.assert({ ...start11(), event_version: "1.2" })),
    ["/event_version event_version: Unsupported event version: 1.2 (expected one of '1.0', '1.1')"],
  );
  // An end may omit its version: the newest accepted schema judges it.
  v.SessionEndEvent.assert(validEnd());
  v.SessionEndEvent.assert({ ...validEnd(), event_version: "1.0" });
});

test("outside a window: only the versions accepted, named in the refusal", () => {
  const current = sessionValidators(withFixture, ["1.1"]);
  assert.equal(
    issuesOf(() => current.SessionStartEvent.assert(validStart())),
    ["/event_version event_version: Unsupported event version: 1.0 (expected '1.1')"],
  );
  const old = sessionValidators(withFixture, ["1.0"]);
  assert.equal(
    issuesOf(() => old.SessionStartEvent.assert(start11())),
    [
      "/event_version event_version: Unsupported event version: 1.1 (expected '1.0')",
      "/region unknown_property: is not a field of this contract (free-form data belongs under metadata/details)",
    ],
  );
  assert.throws(
    () => sessionValidators(withFixture, ["2.0"]),
    /unknown contract version "2\.0" \(known versions: 1\.0, 1\.1\)/,
  );
});

test.run();
