/**
 * The state store: what the collector and the VRP hub derive from the log,
 * kept off the heap in LMDB under `<data-dir>/state/`, with the log sequence
 * it has applied. Changes are gathered in a small in-memory overlay (reads
 * see it first) and committed in one LMDB transaction together with the
 * applied sequence: that commit is the checkpoint. A crash between
 * checkpoints loses only the overlay, which a restart rebuilds by replaying
 * the log after the committed sequence.
 *
 * A checkpoint is written by lmdb-js's write thread, not on the event loop
 * (a checkpoint's puts are one lmdb-js batch: one transaction, committed in
 * the order handed over): the loop only encodes and hands over the changes.
 * Until the transaction is durable its changes stay readable here, after
 * the overlay's and before LMDB's, and range reads merge both (so no read
 * waits for a commit).
 *
 * The store is derived data: the log stays the single source of truth, and
 * the store can always be rebuilt from it (`session-events log reindex`).
 */
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { open, type Database, type Key, type RootDatabase } from "lmdb";

/** The tables, one LMDB database each (see docs/storage.md for what each holds). */
export const TABLES = [
  "meta",
  "sessions",
  "events",
  "listing",
  "byComponent",
  "open",
  "vrpSessions",
  "owners",
  "producers",
  "producerLast",
] as const;
export type Table = (typeof TABLES)[number];

/**
 * Tables read for every VRP event (the machine reads its session's state
 * and the transport owners to decide, and again to apply): LMDB's own cache
 * keeps their decoded entries (kept current by every write), so a read of
 * an entry the overlay no longer holds is not an LMDB read and a decode
 * each time. Callers never change what a read returns.
 */
const CACHED_TABLES: ReadonlySet<Table> = new Set<Table>(["vrpSessions", "owners", "producerLast"]);

/** Bumped whenever what the tables hold changes: an older or newer store is rebuilt. */
export const STATE_FORMAT = 1;

const DELETED = Symbol("deleted");
type Pending = { key: Key; value: unknown };
/** Changes per table, by a string form of their key (overlayKey). */
type Changes = Map<Table, Map<string | number, Pending>>;

export class StateStore {
  private readonly dbs: Record<Table, Database<unknown, Key>>;
  /** Changes not yet handed to LMDB. */
  private overlay: Changes = emptyChanges();
  private pendingCount = 0;
  /** The changes of the checkpoint handed to LMDB and not yet durable, if any (reads see them after the overlay). */
  private committing: Changes | undefined;
  /** The last checkpoint's durability: what close() and settled() wait for. */
  private lastCommit: Promise<void> = Promise.resolve();
  /** The log sequence whose effects (and all before) are in the overlay or committed. */
  private appliedSequence: bigint;
  /** The sequence the last checkpoint handed over covers, and the one the last durable checkpoint covers. */
  private checkpointedSequence: bigint;
  private committedSequence: bigint;
  private readonly durableListeners: ((applied: bigint) => void)[] = [];
  /** Set if a checkpoint's transaction failed: the store then takes no more (a restart rebuilds from the log). */
  private failed: Error | undefined;
  /** Counters: checkpoints made durable. */
  readonly stats = { checkpoints: 0 };

  private constructor(private readonly root: RootDatabase) {
    this.dbs = Object.fromEntries(
      TABLES.map((t) => [t, root.openDB({ name: t, cache: CACHED_TABLES.has(t) })]),
    ) as Record<Table, Database<unknown, Key>>;
    const applied = this.dbs.meta.get("applied");
    this.appliedSequence = typeof applied === "number" ? BigInt(applied) : 0n;
    this.checkpointedSequence = this.committedSequence = this.appliedSequence;
  }

  /** Open (or create) the store in `dir`; `format()` tells what it holds. */
  static open(dir: string): StateStore {
    // mapSize is address space, not memory: room for years of history. Every write is in a checkpoint's
    // batch (one transaction each), so lmdb-js need not gather a turn's writes into one: with that
    // gathering on, a failed commit also rejects a promise of lmdb-js's own that nothing handles.
    return new StateStore(
      open({ path: dir, noSubdir: false, maxDbs: TABLES.length + 2, mapSize: 2 ** 40, eventTurnBatching: false }),
    );
  }

  /** The format the store was written in (undefined: new or foreign). */
  format(): unknown {
    return this.dbs.meta.get("format");
  }

  /** Mark a new, empty store as ours. */
  initialise(): void {
    this.root.transactionSync(() => {
      void this.dbs.meta.put("format", STATE_FORMAT);
      void this.dbs.meta.put("applied", 0);
    });
  }

  get applied(): bigint {
    return this.appliedSequence;
  }

  /** The sequence of the last durable checkpoint (what a restart starts after). */
  get committed(): bigint {
    return this.committedSequence;
  }

  /** The sequence the last checkpoint covers, durable or still being committed. */
  get checkpointed(): bigint {
    return this.checkpointedSequence;
  }

  /** Told when a checkpoint is durable, with the sequence it covers. */
  onDurable(listener: (applied: bigint) => void): void {
    this.durableListeners.push(listener);
  }

  /** Resolves once every checkpoint made so far is durable (rejects if one failed). */
  settled(): Promise<void> {
    return this.lastCommit;
  }

  /** Why a checkpoint's transaction failed, if one did: the store then takes no more. */
  get failure(): Error | undefined {
    return this.failed;
  }

  /** Whether a checkpoint is handed to LMDB and not yet durable (the next waits for it: checkpoint()). */
  get isCommitting(): boolean {
    return this.committing !== undefined;
  }

  /** Changes waiting for the next checkpoint. */
  get pending(): number {
    return this.pendingCount;
  }

  /** Record that every record up to `sequence` has been applied (committed at the next checkpoint). */
  setApplied(sequence: bigint): void {
    this.appliedSequence = sequence;
  }

  get<V>(table: Table, key: Key): V | undefined {
    const pending = this.pendingChange(table, overlayKey(key));
    if (pending) return pending.value === DELETED ? undefined : (pending.value as V);
    return this.dbs[table].get(key) as V | undefined;
  }

  /** The newest change of a key not yet durable in LMDB: the overlay's, else the committing checkpoint's. */
  private pendingChange(table: Table, key: string | number): Pending | undefined {
    const pending = this.overlay.get(table)!.get(key);
    if (pending) return pending;
    return this.committing?.get(table)?.get(key);
  }

  put(table: Table, key: Key, value: unknown): void {
    this.overlay.get(table)!.set(overlayKey(key), { key, value });
    this.pendingCount++;
  }

  remove(table: Table, key: Key): void {
    this.overlay.get(table)!.set(overlayKey(key), { key, value: DELETED });
    this.pendingCount++;
  }

  /**
   * Entries of a table in key order, from `start` (inclusive) to `end`
   * (exclusive): LMDB's, merged with the changes not yet durable there (a
   * range read needs no checkpoint first). Keys of one table are all numbers,
   * all strings, or arrays of them, ordered as LMDB orders them (compareKeys).
   */
  *range<V>(table: Table, options: { start?: Key; end?: Key }): Iterable<{ key: Key; value: V }> {
    const inRange = (key: Key) =>
      (options.start === undefined || compareKeys(key, options.start) >= 0) &&
      (options.end === undefined || compareKeys(key, options.end) < 0);
    // The latest change of each key in range (the overlay's over the committing checkpoint's): LMDB's
    // entries are all in range, so only these can stand for them.
    const newest = new Map<string | number, Pending>();
    for (const changes of [this.committing?.get(table), this.overlay.get(table)!])
      for (const [k, p] of changes ?? []) if (inRange(p.key)) newest.set(k, p);
    const pending = [...newest.values()].sort((a, b) => compareKeys(a.key, b.key));
    const live = function* (p: Pending) {
      if (p.value !== DELETED) yield { key: p.key, value: p.value as V };
    };
    let next = 0;
    for (const entry of this.dbs[table].getRange(options) as Iterable<{ key: Key; value: V }>) {
      while (next < pending.length && compareKeys(pending[next]!.key, entry.key) <= 0) yield* live(pending[next++]!);
      // A key changed since LMDB's entry was written: the change stands (or hides it, if a removal). Matched
      // by key, not by order, so that no entry comes twice even where compareKeys and LMDB might disagree.
      if (!newest.has(overlayKey(entry.key))) yield entry;
    }
    while (next < pending.length) yield* live(pending[next++]!);
  }

  /**
   * The checkpoint: every pending change and the applied sequence, handed to
   * LMDB's write thread in one batch, so one transaction.
   * `committed` moves, and onDurable listeners are told, once it is durable.
   * One at a time: while one is being committed, this hands nothing over
   * and returns false (the changes wait in the overlay for the next call),
   * so a failed transaction is never followed by a later one that commits
   * without it.
   */
  checkpoint(): boolean {
    if (this.failed) throw this.failed;
    if (this.committing) return false;
    if (this.pendingCount === 0 && this.appliedSequence === this.checkpointedSequence) return true;
    const applied = this.appliedSequence;
    const changes = this.overlay;
    // One batch: one transaction, and one promise for it (a put inside a batch returns none that can fail).
    const written = this.root.batch(() => {
      for (const [table, tableChanges] of changes) {
        const db = this.dbs[table];
        for (const { key, value } of tableChanges.values())
          void (value === DELETED ? db.remove(key) : db.put(key, value));
      }
      void this.dbs.meta.put("applied", Number(applied));
    });
    this.committing = changes;
    this.overlay = emptyChanges();
    this.pendingCount = 0;
    this.checkpointedSequence = applied;
    // The batch's promise resolves when its transaction (the whole checkpoint) is committed; flushed, when durable.
    const durable = written.then(() => this.root.flushed);
    this.lastCommit = durable.then(
      () => {
        // Reads of these keys now go to LMDB: make sure this thread's read snapshot has the commit.
        this.root.resetReadTxn();
        this.committing = undefined;
        this.committedSequence = applied;
        this.stats.checkpoints++;
        for (const listener of this.durableListeners) listener(applied);
      },
      async (e: unknown) => {
        // The changes stay readable (in `committing`): the state in memory is still right, only not durable.
        this.failed = new Error("state store checkpoint failed");
        // lmdb-js rejects with "Commit failed" and keeps the cause (ENOSPC, EIO) in a promise of its own.
        const commitError = (e as { commitError?: Promise<never> }).commitError;
        const cause = await Promise.race([
          commitError?.catch((c: unknown) => c as Error),
          new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 1000).unref()),
        ]);
        this.failed.message = `state store checkpoint failed: ${(cause ?? (e as Error)).message}`;
        throw this.failed;
      },
    );
    this.lastCommit.catch(() => {}); // the failure is kept in `failure` and met by the next checkpoint
    return true;
  }

  /** Wait for the checkpoints handed over to be durable, then close LMDB. */
  async close(): Promise<void> {
    await this.lastCommit.catch(() => {});
    // After a failed commit lmdb-js's close waits for a flush that never comes: the environment is
    // left to the process's exit, which a failed store leads to (the collector exits 1).
    if (this.failed) return;
    await this.root.close();
  }
}

function emptyChanges(): Changes {
  return new Map(TABLES.map((t) => [t, new Map()]));
}

/**
 * LMDB's order of this store's keys (lmdb-js's ordered-binary encoding):
 * numbers by value, strings by their UTF-8 bytes, arrays element by element
 * (a prefix first); numbers before strings before arrays.
 */
export function compareKeys(a: Key, b: Key): number {
  const rank = (k: Key) => (typeof k === "number" ? 0 : typeof k === "string" ? 1 : 2);
  if (rank(a) !== rank(b)) return rank(a) - rank(b);
  if (typeof a === "number") return a - (b as number);
  if (typeof a === "string") return a === b ? 0 : Buffer.compare(Buffer.from(a), Buffer.from(b as string));
  const x = a as Key[];
  const y = b as Key[];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const c = compareKeys(x[i]!, y[i]!);
    if (c !== 0) return c;
  }
  return x.length - y.length;
}

function overlayKey(key: Key): string | number {
  if (typeof key === "string" || typeof key === "number") return key;
  if (Array.isArray(key)) return JSON.stringify(key);
  throw new TypeError(`state store: unsupported key ${String(key)}`);
}

/**
 * Check an LMDB data file's two meta pages before opening it: LMDB trusts its
 * file and crashes the process (SIGSEGV) on garbage, so a store whose header
 * is not LMDB's must be refused here. (Pages are not checksummed: damage
 * deeper in the file is not detected; `log reindex` rebuilds the store.)
 * Returns why the file is not usable, or undefined.
 */
export function lmdbHeaderProblem(file: string): string | undefined {
  const size = statSync(file).size;
  const page = Buffer.alloc(64);
  const fd = openSync(file, "r");
  try {
    const meta = (offset: number) => {
      if (offset + 64 > size) return false;
      readSync(fd, page, 0, 64, offset);
      return page.readUInt32LE(24) === LMDB_MAGIC && page.readUInt32LE(28) === LMDB_DATA_VERSION;
    };
    if (!meta(0)) return "is not an LMDB file (its first meta page has no LMDB header)";
    const pageSize = page.readUInt32LE(48);
    if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0)
      return `is not an LMDB file (page size ${pageSize})`;
    if (!meta(pageSize)) return "is not an LMDB file (its second meta page has no LMDB header)";
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** MDB_meta: mm_magic at byte 24 of a meta page (after the page header), mm_version after it; FREE_DBI's md_pad (the page size) at 48. */
const LMDB_MAGIC = 0xbeefc0de;
const LMDB_DATA_VERSION = 2;
