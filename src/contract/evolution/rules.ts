/**
 * The specification's rules of schema evolution ("Schema Evolution",
 * "Backward Compatibility Strategy"), as data: every kind of change the
 * check reports, and the version bump it needs.
 *
 *   Additive (minor): new optional fields; validation rules that keep existing
 *   valid data valid (a loosened constraint); extended metadata.
 *   Breaking (major): removed or renamed fields; changed types; required
 *   fields made optional; tightened validation constraints.
 */

/** A version bump: none, minor (additive) or major (breaking). */
export type Bump = "none" | "minor" | "major";

/** The specification's evolution rules as data: each kind of change and the bump it needs. */
export const CHANGE_RULES = {
  property_added_optional: { bump: "minor", summary: "an optional property was added" },
  property_added_required: { bump: "major", summary: "a required property was added (existing events lack it)" },
  property_removed: { bump: "major", summary: "a property was removed" },
  property_renamed: { bump: "major", summary: "a property was renamed" },
  type_changed: { bump: "major", summary: "a property's type changed" },
  required_to_optional: { bump: "major", summary: "a required property was made optional (readers relied on it)" },
  optional_to_required: { bump: "major", summary: "an optional property was made required (a tightened constraint)" },
  constraint_tightened: {
    bump: "major",
    summary: "a validation constraint was tightened (existing valid data may become invalid)",
  },
  constraint_loosened: {
    bump: "minor",
    summary: "a validation constraint was loosened (existing valid data stays valid)",
  },
  constraint_changed: {
    bump: "major",
    summary: "a validation constraint changed in a way that is neither a tightening nor a loosening",
  },
  additional_properties_tightened: { bump: "major", summary: "an object was closed to properties it does not name" },
  additional_properties_loosened: { bump: "minor", summary: "an object was opened to properties it does not name" },
  schema_added: { bump: "minor", summary: "a contract type was added" },
  schema_removed: { bump: "major", summary: "a contract type was removed" },
  annotation_changed: {
    bump: "none",
    summary: "an annotation changed (title, description, default, examples): no effect on validity",
  },
  protobuf_breaking: { bump: "major", summary: "buf breaking (the project's rules) found a breaking protobuf change" },
} as const satisfies Record<string, { bump: Bump; summary: string }>;

/** The name of one rule of CHANGE_RULES. */
export type ChangeRule = keyof typeof CHANGE_RULES;

/** One change found between two contracts, classified by a rule. */
export interface Change {
  /** Which half of the contract changed. */
  readonly source: "json-schema" | "protobuf";
  readonly rule: ChangeRule;
  /** The bump this change needs (CHANGE_RULES[rule].bump). */
  readonly bump: Bump;
  /** The contract type and JSON Pointer in its schema ("SessionStartEvent#/properties/pid"), or the .proto file and line. */
  readonly where: string;
  /** The constraint keyword, for constraint changes; buf's rule id, for protobuf changes. */
  readonly keyword?: string;
  readonly message: string;
}

const ORDER: readonly Bump[] = ["none", "minor", "major"];

/** The bump a set of changes needs: the largest any one needs. */
export function neededBump(changes: readonly Change[]): Bump {
  return changes.reduce<Bump>((most, c) => (ORDER.indexOf(c.bump) > ORDER.indexOf(most) ? c.bump : most), "none");
}

export function change(
  source: Change["source"],
  rule: ChangeRule,
  where: string,
  message: string,
  keyword?: string,
): Change {
  return { source, rule, bump: CHANGE_RULES[rule].bump, where, message, ...(keyword ? { keyword } : {}) };
}
