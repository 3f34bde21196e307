/** A digest of an event's content: canonical JSON (sorted keys), so key order does not make two events differ. */
import { crc32 } from "node:zlib";
import { canonicalJson } from "../contract/canonical.js";
import type { VrpEventJson } from "../contract/types.js";

export function vrpDigest(json: VrpEventJson): number {
  return crc32(canonicalJson(json));
}
