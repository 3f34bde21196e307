/**
 * How long a checkpoint holds the event loop: StateStore.checkpoint() (its
 * puts handed to lmdb-js's write thread as one batch) against the same
 * changes committed the way it was done before, one synchronous LMDB
 * transaction on the loop (`transactionSync`), in the same run, interleaved.
 * The changes are a second's worth at one call in flight: 500 session
 * starts, the seven entries each makes (state/session-tables.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { open, type Key, type RootDatabase } from "lmdb";
import { StateStore, TABLES, type Table } from "../../src/state/state-store.js";
import { fmt, median } from "./harness.js";

const SESSIONS = 500;

/** The entries `SESSIONS` session starts make, from session number `first` on. */
function changes(first: number): [Table, Key, unknown][] {
  const out: [Table, Key, unknown][] = [];
  for (let seq = first; seq < first + SESSIONS; seq++) {
    const id = `sess_${seq.toString(16).padStart(32, "0")}`;
    const listed = [id, "bench", 1_700_000_000 + seq, 0, 0];
    out.push(
      ["sessions", id, [seq, Buffer.alloc(250, seq & 255), null]],
      ["events", `${seq}-event-id-0000-000000000000`, id],
      ["listing", seq, listed],
      ["byComponent", ["bench", seq], listed],
      ["open", seq, listed],
      ["meta", "sessionCount", seq],
      ["meta", "openCount", seq],
    );
  }
  return out;
}

export interface CheckpointBench {
  readonly changes: number;
  /** Median ms the event loop was held by one checkpoint, each way. */
  readonly handedOverMs: number;
  readonly synchronousMs: number;
  /** Median of the per-round ratios, handed over ÷ synchronous. */
  readonly ratio: number;
}

export async function benchCheckpoint(rounds = 40): Promise<CheckpointBench> {
  const dir = mkdtempSync(path.join(tmpdir(), "bench-checkpoint-"));
  const store = StateStore.open(path.join(dir, "store"));
  store.initialise();
  const root: RootDatabase = open({ path: path.join(dir, "sync"), maxDbs: TABLES.length + 2, mapSize: 2 ** 40 });
  const dbs = Object.fromEntries(TABLES.map((t) => [t, root.openDB({ name: t })]));
  const handedOver: number[] = [];
  const synchronous: number[] = [];
  const ratios: number[] = [];
  let entries = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      // The store keeps the last change of each key: the synchronous side writes the same set.
      const batch = [
        ...new Map(changes(round * SESSIONS + 1).map((c) => [`${c[0]} ${JSON.stringify(c[1])}`, c])).values(),
      ];
      entries = batch.length;
      for (const [table, key, value] of batch) store.put(table, key, value);
      store.setApplied(BigInt((round + 1) * SESSIONS));
      let t = performance.now();
      store.checkpoint();
      const a = performance.now() - t;
      await store.settled(); // not counted: the write thread's part
      t = performance.now();
      root.transactionSync(() => {
        for (const [table, key, value] of batch) void dbs[table]!.put(key, value);
      });
      const b = performance.now() - t;
      handedOver.push(a);
      synchronous.push(b);
      ratios.push(a / b);
    }
  } finally {
    await store.close();
    await root.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    changes: entries,
    handedOverMs: median(handedOver),
    synchronousMs: median(synchronous),
    ratio: median(ratios),
  };
}

export function checkpointTable(r: CheckpointBench): string {
  return [
    "| checkpoint of | on the event loop: one synchronous transaction (before) | handed to lmdb-js's write thread (now) | now ÷ before |",
    "|---|---:|---:|---:|",
    `| ${fmt(r.changes)} entries (${fmt(SESSIONS)} session starts) | ${r.synchronousMs.toFixed(2)} ms | ${r.handedOverMs.toFixed(2)} ms | ${r.ratio.toFixed(2)} |`,
  ].join("\n");
}
