/**
 * The spool's progress, in `state.json` beside its log: which log generation
 * is current, how far delivery has got in it, how far the log was known to
 * reach (the session ids learnt for placeholders are in their own journal,
 * spool-placeholders.ts; an older state.json carried them, and is still
 * read). Written whole with
 * writeFileAtomic, in batches (never once per event): a crash loses at most
 * the last batch of progress, and what is then sent again the collector
 * recognises by event_id (stored once).
 */
import { readFile, rename } from "node:fs/promises";
import { writeFileAtomic } from "../store/atomic-write.js";

export interface SpoolState {
  /** The log directory in use: "log" for 0, "log.N" after N fresh starts. */
  readonly generation: number;
  /** Sequence of the last record delivered (or set aside), in that generation. */
  readonly delivered: bigint;
  /** The log's last sequence when the state was written: a log found shorter lost records. */
  readonly spooled: bigint;
  /** Placeholder -> [session id, when it was learnt (ms since epoch)]: only in an older state.json (read, never written). */
  readonly resolved: ReadonlyMap<string, readonly [string, number]>;
}

export const EMPTY_STATE: SpoolState = { generation: 0, delivered: 0n, spooled: 0n, resolved: new Map() };

export function logDirName(generation: number): string {
  return generation === 0 ? "log" : `log.${generation}`;
}

/** The state, EMPTY_STATE when there is none, or a damaged one moved aside (the caller reports it). */
export async function readState(
  file: string,
  now: number,
): Promise<{ state: SpoolState; found: boolean; damaged?: { movedTo: string; reason: string } }> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { state: EMPTY_STATE, found: false };
    throw e;
  }
  try {
    return { state: parseState(text, now), found: true };
  } catch (e) {
    const movedTo = `${file}.damaged-${now}`;
    await rename(file, movedTo);
    return { state: EMPTY_STATE, found: false, damaged: { movedTo, reason: (e as Error).message } };
  }
}

const SEQUENCE = /^(0|[1-9]\d{0,19})$/;

function parseState(text: string, now: number): SpoolState {
  const v = JSON.parse(text) as Record<string, unknown>;
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not a JSON object");
  const sequence = (field: string, fallback?: string): bigint => {
    const raw = v[field] ?? fallback;
    if (typeof raw !== "string" || !SEQUENCE.test(raw))
      throw new Error(`${field}: must be a decimal sequence number in a string; got ${JSON.stringify(raw)}`);
    return BigInt(raw);
  };
  const generation = v.generation ?? 0;
  if (!Number.isSafeInteger(generation) || (generation as number) < 0)
    throw new Error(`generation: must be an integer ≥ 0; got ${JSON.stringify(generation)}`);
  const delivered = sequence("delivered");
  const spooled = sequence("spooled", String(delivered)); // older states did not record it
  const legacy = v.resolved ?? {};
  if (typeof legacy !== "object" || legacy === null || Array.isArray(legacy))
    throw new Error("resolved: must be an object");
  const resolved = new Map<string, readonly [string, number]>();
  for (const [placeholder, entry] of Object.entries(legacy)) {
    // An older state kept the session id alone: count it as learnt now.
    const [id, at] = typeof entry === "string" ? [entry, now] : Array.isArray(entry) ? entry : [undefined, undefined];
    if (typeof id !== "string" || typeof at !== "number")
      throw new Error(`resolved.${placeholder}: must be [session id, ms]`);
    resolved.set(placeholder, [id, at]);
  }
  return { generation: generation as number, delivered, spooled, resolved };
}

export function writeState(file: string, state: SpoolState): Promise<void> {
  return writeFileAtomic(
    file,
    JSON.stringify({
      generation: state.generation,
      delivered: state.delivered.toString(),
      spooled: state.spooled.toString(),
    }),
  );
}
