/**
 * The session ids learnt for the spool's placeholders, on disk as an
 * append-only journal (`placeholders.jsonl`, one `[placeholder, id, ms]` a
 * line) beside `state.json`.
 *
 * Why not in state.json: state.json is rewritten whole with every batch of
 * progress, and a backlog of N spooled starts leaves N placeholders in their
 * window (about 100 bytes each): rewriting them all every 200 ms made a
 * drain's cost grow with the square of the backlog, and stringifying them
 * stalled the host's event loop (10 MB at 100,000). Appended, each batch
 * writes only what it learnt.
 *
 * Order: a batch is appended and fsynced before the state.json that counts
 * its starts as delivered is written, so a delivered start's id is never
 * lost. A torn last line (a crash mid-append) is dropped: its state.json
 * was never written, and those starts are sent again (stored once). The
 * journal is rewritten whole (writeFileAtomic) with the live entries only,
 * when most of its lines are stale (pruned, or learnt again).
 */
import { open, readFile } from "node:fs/promises";
import { writeFileAtomic } from "../store/atomic-write.js";

export type Learnt = readonly [placeholder: string, id: string, at: number];

export class PlaceholderJournal {
  private constructor(
    private readonly file: string,
    /** Lines in the file now. */
    private lines: number,
    /** A torn or unreadable line is there: the next save rewrites rather than appends after it. */
    private rewriteNext: boolean,
  ) {}

  /** Read the journal: the entries (the last line for a placeholder wins), and how many lines were unreadable. */
  static async load(file: string): Promise<{ journal: PlaceholderJournal; entries: Learnt[]; unreadable: number }> {
    let text = "";
    try {
      text = await readFile(file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    const entries: Learnt[] = [];
    let unreadable = 0;
    const lines = text.split("\n");
    const torn = lines.pop() ?? ""; // after the last newline: empty, or a line a crash cut short
    for (const line of lines) {
      const entry = parseLine(line);
      if (entry) entries.push(entry);
      else unreadable++;
    }
    // `torn` (text after the last newline) is what a crash mid-append leaves: dropped, as the header says.
    const journal = new PlaceholderJournal(file, lines.length + (torn === "" ? 0 : 1), torn !== "" || unreadable > 0);
    return { journal, entries, unreadable };
  }

  /**
   * Make `fresh` durable: appended (and fsynced), or, once most lines are
   * stale, the journal is rewritten with `live` (which includes `fresh`).
   */
  async save(fresh: readonly Learnt[], live: ReadonlyMap<string, readonly [string, number]>): Promise<void> {
    if (this.rewriteNext || this.lines + fresh.length > 2 * live.size + COMPACT_SLACK) return this.rewrite(live);
    if (fresh.length === 0) return;
    const handle = await open(this.file, "a");
    try {
      await handle.writeFile(fresh.map(formatLine).join(""));
      await handle.sync();
    } finally {
      await handle.close();
    }
    this.lines += fresh.length;
  }

  /** Rewrite with the live entries only (pruned ones go). */
  async rewrite(live: ReadonlyMap<string, readonly [string, number]>): Promise<void> {
    await writeFileAtomic(this.file, [...live].map(([p, [id, at]]) => formatLine([p, id, at])).join(""));
    this.lines = live.size;
    this.rewriteNext = false;
  }

  /** Lines that no longer name a live entry. */
  stale(liveSize: number): number {
    return Math.max(0, this.lines - liveSize);
  }
}

/** Stale lines tolerated beyond the live ones before a rewrite. */
const COMPACT_SLACK = 1024;

function formatLine(entry: Learnt): string {
  return `${JSON.stringify(entry)}\n`;
}

function parseLine(line: string): Learnt | undefined {
  try {
    const v = JSON.parse(line) as unknown;
    if (Array.isArray(v) && v.length === 3 && typeof v[0] === "string" && typeof v[1] === "string")
      if (typeof v[2] === "number") return [v[0], v[1], v[2]];
  } catch {
    // not JSON: unreadable
  }
  return undefined;
}
