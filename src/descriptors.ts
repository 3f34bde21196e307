/**
 * The descriptor set of proto/ (gen/descriptors.binpb, written by `npm run gen`
 * and checked by scripts/check-gen.sh): the one machine-readable copy of the
 * .proto files. Reflection serves it, and tables that name protobuf fields
 * (the strict decoder's requests, archive entry kinds, the bridge mapping's
 * drift test) are derived from it or checked against it.
 */
import { readFileSync } from "node:fs";
import { createFileRegistry, fromBinary, type DescMessage, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema, type FileDescriptorSet } from "@bufbuild/protobuf/wkt";
import { SessionEventsError } from "./errors.js";

/** Where the descriptor set is, from dist/src/ (built) — gen/ sits beside dist/ in the package. */
const DESCRIPTORS_URL = new URL("../../gen/descriptors.binpb", import.meta.url);

let cached: { readonly set: FileDescriptorSet; readonly registry: FileRegistry } | undefined;

function load() {
  if (!cached) {
    const set = fromBinary(FileDescriptorSetSchema, readFileSync(DESCRIPTORS_URL));
    cached = { set, registry: createFileRegistry(set) };
  }
  return cached;
}

/** The FileDescriptorSet of proto/ (with its imports), decoded once. */
export function descriptorSet(): FileDescriptorSet {
  return load().set;
}

/** A registry of every file, message, enum and service of proto/. */
export function descriptorRegistry(): FileRegistry {
  return load().registry;
}

/** A message's descriptor by its full name ("vrp.v1alpha1.VrpEvent"); throws when proto/ has none. */
export function messageDescriptor(fullName: string): DescMessage {
  const message = descriptorRegistry().getMessage(fullName);
  if (!message)
    throw new SessionEventsError(`no message ${fullName} in gen/descriptors.binpb (run npm run gen)`, {
      code: "INTERNAL",
    });
  return message;
}
