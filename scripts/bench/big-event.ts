/**
 * Events of an exact size in protobuf bytes, made of many small free-form
 * keys: the costliest shape per byte (each key is an object property to
 * build, check and write). Shared by the latency benchmark and the tests of
 * --max-event-bytes, so that both mean the same by "a max-size event".
 */
import { bridges } from "../../src/bridge/index.js";
import type { JsonObject, SessionStartEventJson, VrpEventJson } from "../../src/contract/types.js";

/** Short distinct keys ("0" would be an array index: they start with a letter). */
const key = (i: number) => `k${i.toString(36)}`;

/** Fill a free-form field with small keys (true) and one padding string so that the event's encoding is exactly `bytes` long. */
function exactly(bytes: number, size: (free: JsonObject) => number, floor: number): JsonObject {
  const free: JsonObject = {};
  const fill = (n: number) => {
    for (const k of Object.keys(free)) delete free[k];
    for (let i = 0; i < n; i++) free[key(i)] = true;
  };
  // Measure what a key costs, then take as many as leave a little room for the padding.
  const probe = Math.max(1, Math.floor((bytes - floor) / 16));
  fill(probe);
  const perKey = (size(free) - floor) / probe;
  let n = Math.max(0, Math.floor((bytes - floor - 48) / perKey));
  fill(n);
  while (n > 0 && size(free) > bytes - 24) fill((n = Math.max(0, n - Math.ceil((size(free) - bytes + 40) / perKey))));
  let pad = Math.max(0, bytes - size(free) - 12);
  for (let tries = 0; tries < 16; tries++) {
    free.pad = "x".repeat(pad);
    const got = size(free);
    if (got === bytes) return free;
    // A length prefix may grow by a byte as the padding grows: step by what is missing.
    pad += bytes - got > 0 ? Math.max(1, bytes - got - (tries > 4 ? 1 : 0)) : -1;
    if (pad < 0) throw new Error(`cannot build an event of exactly ${bytes} bytes`);
  }
  throw new Error(`cannot build an event of exactly ${bytes} bytes`);
}

/** A valid SessionStartEvent whose protobuf encoding is exactly `bytes` long. */
export function sessionStartOfSize(bytes: number, template: SessionStartEventJson): SessionStartEventJson {
  const base = { ...template, metadata: {} };
  const floor = bridges.SessionStartEvent.toBinary(base).length;
  const metadata = exactly(bytes, (m) => bridges.SessionStartEvent.toBinary({ ...base, metadata: m }).length, floor);
  return { ...base, metadata };
}

/** A valid VrpEvent whose protobuf encoding is exactly `bytes` long. */
export function vrpEventOfSize(bytes: number, template: VrpEventJson): VrpEventJson {
  const base = { ...template, details: {} };
  const floor = bridges.VrpEvent.toBinary(base).length;
  const details = exactly(bytes, (d) => bridges.VrpEvent.toBinary({ ...base, details: d }).length, floor);
  return { ...base, details };
}
