/**
 * The state store: what the collector and the VRP hub derive from the log,
 * kept off the heap in LMDB under `<data-dir>/state/`, with the log sequence
 * it has applied. Changes are gathered in a small in-memory overlay (reads
 * see it first) and committed in one LMDB transaction together with the
 * applied sequence: that commit is the checkpoint. A crash between
 * checkpoints loses only the overlay, which a restart rebuilds by replaying
 * the log after the committed sequence.
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

export class StateStore {
  private readonly dbs: Record<Table, Database<unknown, Key>>;
  /** Changes not yet committed, per table, by a string form of their key. */
  private readonly overlay = new Map<Table, Map<string | number, Pending>>();
  private pendingCount = 0;
  /** The log sequence whose effects (and all before) are in the overlay or committed. */
  private appliedSequence: bigint;
  private committedSequence: bigint;
  /** Counters: checkpoints committed and records they covered. */
  readonly stats = { checkpoints: 0 };

  private constructor(private readonly root: RootDatabase) {
    this.dbs = Object.fromEntries(
      TABLES.map((t) => [t, root.openDB({ name: t, cache: CACHED_TABLES.has(t) })]),
    ) as Record<Table, Database<unknown, Key>>;
    for (const t of TABLES) this.overlay.set(t, new Map());
    const applied = this.dbs.meta.get("applied");
    this.appliedSequence = this.committedSequence = typeof applied === "number" ? BigInt(applied) : 0n;
  }

  /** Open (or create) the store in `dir`; `format()` tells what it holds. */
  static open(dir: string): StateStore {
    // mapSize is address space, not memory: room for years of history.
    return new StateStore(open({ path: dir, noSubdir: false, maxDbs: TABLES.length + 2, mapSize: 2 ** 40 }));
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

  /** The sequence of the last checkpoint (what a restart starts after). */
  get committed(): bigint {
    return this.committedSequence;
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
    const pending = this.overlay.get(table)!.get(overlayKey(key));
    if (pending) return pending.value === DELETED ? undefined : (pending.value as V);
    return this.dbs[table].get(key) as V | undefined;
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
   * Committed entries of a table in key order (callers checkpoint first when
   * they need the overlay too: a range read is rare, a checkpoint cheap).
   */
  range<V>(
    table: Table,
    options: { start?: Key; end?: Key; reverse?: boolean; limit?: number },
  ): Iterable<{ key: Key; value: V }> {
    return this.dbs[table].getRange(options) as Iterable<{ key: Key; value: V }>;
  }

  count(table: Table): number {
    return this.dbs[table].getCount();
  }

  /** The checkpoint: every pending change and the applied sequence, in one transaction. */
  checkpoint(): void {
    if (this.pendingCount === 0 && this.appliedSequence === this.committedSequence) return;
    const applied = this.appliedSequence;
    this.root.transactionSync(() => {
      for (const [table, changes] of this.overlay) {
        const db = this.dbs[table];
        for (const { key, value } of changes.values()) {
          if (value === DELETED) void db.remove(key);
          else void db.put(key, value);
        }
      }
      void this.dbs.meta.put("applied", Number(applied));
    });
    for (const changes of this.overlay.values()) changes.clear();
    this.pendingCount = 0;
    this.committedSequence = applied;
    this.stats.checkpoints++;
  }

  close(): Promise<void> {
    return this.root.close();
  }
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
