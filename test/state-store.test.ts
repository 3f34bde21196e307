/**
 * The state store: reads see changes not yet durable (the overlay, then the
 * checkpoints LMDB's write thread is committing), range reads merge them in
 * LMDB's key order, and a checkpoint is durable before `committed` moves.
 */
import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import fc from "fast-check";
import type { Key } from "lmdb";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { StateStore, compareKeys, type Table } from "../src/state/state-store.js";
import { tempDir } from "./support/repo.js";
import { mountTmpfs, unmount } from "./support/tmpfs.js";

/** Every entry of a table's range, as [key, value] pairs. */
const rangeOf = (store: StateStore, table: Table, options: { start?: Key; end?: Key } = {}) =>
  [...store.range<unknown>(table, options)].map(({ key, value }) => [key, value]);

test("compareKeys orders keys as LMDB does: numbers, strings by UTF-8 bytes, arrays element by element", async () => {
  const dir = tempDir();
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.nat({ max: 2 ** 40 }), { maxLength: 30 }),
        fc.uniqueArray(fc.string({ unit: "binary", minLength: 1, maxLength: 60 }), { maxLength: 30 }),
        fc.uniqueArray(fc.tuple(fc.string({ unit: "binary", maxLength: 60 }), fc.nat({ max: 1000 })), {
          maxLength: 30,
          selector: ([s, n]) => `${s}\u0000${n}`,
        }),
        async (numbers, strings, pairs) => {
          const store = StateStore.open(path.join(dir, String(Math.random()).slice(2)));
          try {
            store.initialise();
            for (const n of numbers) store.put("listing", n, n);
            for (const s of strings) store.put("owners", s, s);
            for (const p of pairs) store.put("byComponent", p, 1);
            store.checkpoint();
            await store.settled();
            const sorted = (keys: Key[]) => [...keys].sort(compareKeys);
            // Read back from LMDB alone (nothing pending): its order is the reference.
            assert.equal(
              rangeOf(store, "listing").map(([k]) => k),
              sorted(numbers),
            );
            assert.equal(
              rangeOf(store, "owners").map(([k]) => k),
              sorted(strings),
            );
            assert.equal(
              rangeOf(store, "byComponent").map(([k]) => k),
              sorted(pairs),
            );
          } finally {
            await store.close();
          }
        },
      ),
      { numRuns: 25 },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("property: get and range see the overlay and checkpoints still being committed, as a map of the same changes does; a reopen has what was checkpointed", async () => {
  type Op =
    | { kind: "put"; key: number; value: number }
    | { kind: "remove"; key: number }
    | { kind: "checkpoint" }
    | { kind: "tick" }
    | { kind: "settle" };
  const key = fc.integer({ min: 1, max: 40 });
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant("put" as const), key, value: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("remove" as const), key }) },
    { weight: 2, arbitrary: fc.constant({ kind: "checkpoint" as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: "tick" as const }) }, // a turn of the loop: a commit may land
    { weight: 1, arbitrary: fc.constant({ kind: "settle" as const }) },
  );
  const dir = tempDir();
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), key, key, async (ops, a, b) => {
        const where = path.join(dir, String(Math.random()).slice(2));
        const store = StateStore.open(where);
        const model = new Map<number, number>();
        let checkpointed = new Map<number, number>();
        const [start, end] = a <= b ? [a, b] : [b, a];
        const expectedRange = (m: Map<number, number>, from?: number, to?: number) =>
          [...m]
            .filter(([k]) => (from === undefined || k >= from) && (to === undefined || k < to))
            .sort(([x], [y]) => x - y);
        try {
          store.initialise();
          for (const o of ops) {
            if (o.kind === "put") {
              store.put("listing", o.key, o.value);
              model.set(o.key, o.value);
            } else if (o.kind === "remove") {
              store.remove("listing", o.key);
              model.delete(o.key);
            } else if (o.kind === "checkpoint") {
              // While one is being committed, nothing is handed over (one at a time).
              if (store.checkpoint()) checkpointed = new Map(model);
            } else if (o.kind === "tick") await new Promise((resolve) => setImmediate(resolve));
            else await store.settled();
            for (let k = 1; k <= 40; k++) assert.is(store.get("listing", k), model.get(k), `get ${k}`);
            assert.equal(rangeOf(store, "listing"), expectedRange(model));
            assert.equal(rangeOf(store, "listing", { start, end }), expectedRange(model, start, end));
          }
        } finally {
          await store.close();
        }
        // What was checkpointed is durable; what was not is gone (a restart replays the log for it).
        const reopened = StateStore.open(where);
        try {
          assert.equal(rangeOf(reopened, "listing"), expectedRange(checkpointed));
        } finally {
          await reopened.close();
        }
      }),
      { numRuns: 60 },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a checkpoint is handed to LMDB's write thread: `committed` moves, and listeners are told, once it is durable", async () => {
  const dir = tempDir();
  const store = StateStore.open(dir);
  try {
    store.initialise();
    const told: bigint[] = [];
    store.onDurable((applied) => told.push(applied));
    store.put("sessions", "s1", [1, Buffer.from("start"), null]);
    store.setApplied(7n);
    assert.ok(store.checkpoint());
    assert.is(store.checkpointed, 7n, "handed over");
    assert.is(store.committed, 0n, "not yet durable when checkpoint() returns: the commit is not on the event loop");
    assert.ok(store.isCommitting);
    assert.equal(told, []);
    assert.equal(store.get("sessions", "s1"), [1, Buffer.from("start"), null], "readable while being committed");
    store.put("sessions", "s2", [2, Buffer.from("later"), null]);
    store.setApplied(8n);
    assert.not.ok(store.checkpoint(), "one at a time: nothing handed over while one is being committed");
    assert.is(store.checkpointed, 7n);
    await store.settled();
    assert.is(store.committed, 7n);
    assert.not.ok(store.isCommitting);
    assert.equal(told, [7n]);
    assert.equal(store.get("sessions", "s1"), [1, Buffer.from("start"), null], "readable from LMDB");
    assert.ok(store.checkpoint(), "the waiting changes go now");
    await store.settled();
    assert.is(store.committed, 8n);
    assert.equal(told, [7n, 8n]);
    assert.ok(store.checkpoint()); // nothing new: no transaction
    assert.not.ok(store.isCommitting);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a checkpoint that cannot be committed (a full disk): the store fails naming the cause, takes no more, and closes", async () => {
  const mnt = tempDir("state-full-");
  mountTmpfs(mnt, "size=2m,mode=0755");
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on("unhandledRejection", onUnhandled);
  try {
    mkdirSync(path.join(mnt, "state"));
    const store = StateStore.open(path.join(mnt, "state"));
    store.initialise();
    let failed: Error | undefined;
    for (let round = 1; round <= 400 && !failed; round++) {
      for (let i = 0; i < 100; i++) store.put("sessions", `s${round}-${i}`, [round, Buffer.alloc(200, round), null]);
      store.setApplied(BigInt(round));
      store.checkpoint();
      failed = await store.settled().then(
        () => undefined,
        (e: Error) => e,
      );
    }
    assert.ok(failed, "the disk filled");
    assert.match(failed!.message, /state store checkpoint failed: .*(Input\/output error|No space left|ENOSPC)/);
    assert.is(store.failure, failed);
    assert.ok(store.committed < store.checkpointed, "the failed checkpoint is not counted as durable");
    store.put("sessions", "later", [0, Buffer.alloc(1), null]);
    assert.throws(() => store.checkpoint(), /state store checkpoint failed/, "no more checkpoints");
    await store.close(); // returns: lmdb-js's own close would wait for the failed flush for ever
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(unhandled, [], "no promise of the failed commit is left unhandled");
  } finally {
    process.off("unhandledRejection", onUnhandled);
    unmount(mnt, { lazy: true }); // the failed store's LMDB files stay open until this process exits
    rmSync(mnt, { recursive: true, force: true });
  }
});

test.run();
