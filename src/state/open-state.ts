/**
 * Open the state store of a data directory and bring it up to the log: read
 * the sequence it has applied, check that it belongs to this log, and replay
 * only the log's tail after it. A store that is missing, cannot be opened, is
 * in another format, is ahead of the log or does not match it is moved aside
 * (never deleted: `state.unusable-<time>`) with a warning, and rebuilt from
 * the whole log, which is the single source of truth.
 */
import { existsSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import path from "node:path";
import { crc32 } from "node:zlib";
import type { EventLog } from "../store/event-log.js";
import {
  DerivedState,
  DEFAULT_CHECKPOINT_INTERVAL_MS,
  DEFAULT_CHECKPOINT_RECORDS,
  type CheckpointPolicy,
} from "./derived-state.js";
import { STATE_FORMAT, StateStore, lmdbHeaderProblem } from "./state-store.js";

export const STATE_DIR = "state";

export interface OpenStateOptions extends Partial<CheckpointPolicy> {
  /** The data directory (the store is its `state/`). */
  readonly dataDir: string;
  readonly log: EventLog;
  /** Told why a store was not usable (it is then rebuilt). */
  readonly onWarning?: (message: string, details: Record<string, unknown>) => void;
}

export interface OpenedState {
  readonly state: DerivedState;
  /** Records replayed to bring the store up to the log (the tail, or the whole log on a rebuild). */
  readonly replayed: number;
  /** The sequence the store had applied when opened (0 on a rebuild). */
  readonly checkpoint: bigint;
  /** Why the store was rebuilt, if it was. */
  readonly rebuilt: string | undefined;
}

export async function openState(options: OpenStateOptions): Promise<OpenedState> {
  const dir = path.join(options.dataDir, STATE_DIR);
  const policy: CheckpointPolicy = {
    checkpointRecords: options.checkpointRecords ?? DEFAULT_CHECKPOINT_RECORDS,
    checkpointIntervalMs: options.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS,
  };
  const existed = existsSync(path.join(dir, "data.mdb"));
  let store: StateStore | undefined;
  let problem: string | undefined;
  try {
    const header = existed ? lmdbHeaderProblem(path.join(dir, "data.mdb")) : undefined;
    if (header) problem = `cannot be opened: data.mdb ${header}`;
    else {
      store = StateStore.open(dir);
      problem = existed ? await unusable(store, options.log) : undefined;
    }
  } catch (e) {
    problem = `cannot be opened: ${(e as Error).message}`;
  }
  let rebuilt: string | undefined;
  if (problem !== undefined || !existed) {
    if (problem !== undefined) {
      await store?.close().catch(() => {});
      const aside = `${dir}.unusable-${new Date().toISOString().replaceAll(":", "")}`;
      await rename(dir, aside);
      options.onWarning?.(`state store ${problem}: moved aside, rebuilding it from the log`, {
        stateDir: dir,
        movedTo: aside,
      });
      store = StateStore.open(dir);
      rebuilt = problem;
    } else if (options.log.lastSequence > 0n) {
      options.onWarning?.("state store missing: rebuilding it from the log", { stateDir: dir });
      rebuilt = "missing";
    }
    store!.initialise();
  }
  const state = new DerivedState(store!, policy);
  const checkpoint = state.applied;
  const replayed = await state.catchUp(options.log);
  return { state, replayed, checkpoint, rebuilt };
}

/** Why an existing store cannot be used with this log (undefined: it can). */
async function unusable(store: StateStore, log: EventLog): Promise<string | undefined> {
  const format = store.format();
  if (format !== STATE_FORMAT) return `is in format ${JSON.stringify(format ?? null)}, not ${STATE_FORMAT}`;
  const applied = store.committed;
  if (applied > log.lastSequence)
    return `has applied up to sequence ${applied}, past the log's last (${log.lastSequence})`;
  if (applied === 0n) return undefined;
  const digest = store.get<number>("meta", "appliedDigest");
  // The last record at `applied` (a shared log's group is one position: its records share it).
  let last: Uint8Array | undefined;
  for await (const record of log.read(applied)) {
    if (record.sequence !== applied) break;
    last = record.payload;
  }
  if (last === undefined) return `does not match the log (it has no record ${applied})`;
  return crc32(last) === digest
    ? undefined
    : `does not match the log (record ${applied} differs from the one it applied)`;
}

/** Rebuild the state store of a data directory from its whole log (`log reindex`). */
export async function reindexState(
  dataDir: string,
  log: EventLog,
  policy: Partial<CheckpointPolicy> = {},
): Promise<{ replayed: number; applied: bigint }> {
  const dir = path.join(dataDir, STATE_DIR);
  const building = `${dir}.reindex`;
  await rm(building, { recursive: true, force: true });
  const store = StateStore.open(building);
  store.initialise();
  const state = new DerivedState(store, {
    checkpointRecords: policy.checkpointRecords ?? 100_000,
    checkpointIntervalMs: policy.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS,
  });
  const replayed = await state.catchUp(log);
  const applied = state.applied;
  await state.close();
  // The old store goes, the new one takes its place: a crash in between leaves none, which a start rebuilds.
  await rm(dir, { recursive: true, force: true });
  await rename(building, dir);
  return { replayed, applied };
}
