/**
 * What a pass over an archive found: counts by type, the time span, the log
 * sequences, and the damage. Memory stays constant: the damage list keeps
 * the first MAX_LISTED_DAMAGE and counts the rest.
 */
import { formatTimestamp } from "../contract/timestamp.js";
import { describeDamage, type ArchiveDamage } from "./damage.js";
import { EVENT_TYPES, type ArchiveEvent, type ArchiveEventType, type EventTime } from "./event.js";

export const MAX_LISTED_DAMAGE = 100;

/** The counts of a read: events by type, damage by rule, the time span. */
export interface ArchiveSummary {
  /** Records read: good events plus damaged records. */
  records: number;
  /** Valid events read. */
  events: number;
  /** Events a filter left out (export only). */
  filteredOut: number;
  /** Events written (export and import). */
  written: number;
  /** Valid events by contract type. */
  byType: Record<string, number>;
  /** VRP events by event_type. */
  byVrpEventType: Record<string, number>;
  /** Earliest and latest event time (RFC 3339, UTC; "ts_ms N" past year 9999), when any event was read. */
  firstTimestamp?: string;
  lastTimestamp?: string;
  /** Lowest and highest log sequence, when the input has them. */
  firstSequence?: string;
  lastSequence?: string;
  /**
   * A data directory's last segment ending in an unfinished write (a live
   * collector's, or one a crash cut): never acknowledged, so not damage.
   */
  unfinishedTail?: { source: string; offset: number; bytes: number };
  /** Damaged records in all. */
  damaged: number;
  /** The first MAX_LISTED_DAMAGE of them. */
  damage: ArchiveDamage[];
}

export class SummaryBuilder {
  readonly summary: ArchiveSummary = {
    records: 0,
    events: 0,
    filteredOut: 0,
    written: 0,
    byType: {},
    byVrpEventType: {},
    damaged: 0,
    damage: [],
  };
  // Counts in Maps (a keyed store into an object per event is slow), written into the summary by finish().
  private readonly types = new Map<string, number>();
  private readonly vrpTypes = new Map<string, number>();
  // The time span as numbers, not an object per event (an export counts millions).
  private any = false;
  private firstSeconds = 0;
  private firstNanos = 0;
  private lastSeconds = 0;
  private lastNanos = 0;
  // A bigint or a number (exact), as given: the two compare as the integers they are.
  private minSequence: bigint | number | undefined;
  private maxSequence: bigint | number | undefined;

  event(event: ArchiveEvent): void {
    const vrpEventType = event.type === "VrpEvent" ? (event.json as { event_type: string }).event_type : undefined;
    const time = EVENT_TYPES[event.type].time(event.json);
    this.counted(event.type, time.seconds, time.nanos, vrpEventType, event.log?.sequence ?? event.position.sequence);
  }

  /** An event counted from its parts (a fast path that builds no ArchiveEvent): type, own time, VRP event_type, sequence. */
  counted(
    type: ArchiveEventType,
    seconds: number,
    nanos: number,
    vrpEventType: string | undefined,
    sequence: bigint | number | undefined,
  ): void {
    const s = this.summary;
    s.records++;
    s.events++;
    this.types.set(type, (this.types.get(type) ?? 0) + 1);
    if (vrpEventType !== undefined) this.vrpTypes.set(vrpEventType, (this.vrpTypes.get(vrpEventType) ?? 0) + 1);
    if (!this.any) {
      this.any = true;
      this.firstSeconds = this.lastSeconds = seconds;
      this.firstNanos = this.lastNanos = nanos;
    } else {
      if (seconds < this.firstSeconds || (seconds === this.firstSeconds && nanos < this.firstNanos)) {
        this.firstSeconds = seconds;
        this.firstNanos = nanos;
      }
      if (seconds > this.lastSeconds || (seconds === this.lastSeconds && nanos > this.lastNanos)) {
        this.lastSeconds = seconds;
        this.lastNanos = nanos;
      }
    }
    if (sequence !== undefined) {
      if (this.minSequence === undefined || sequence < this.minSequence) this.minSequence = sequence;
      if (this.maxSequence === undefined || sequence > this.maxSequence) this.maxSequence = sequence;
    }
  }

  /** `ofRecord`: false for damage that is not a record of its own (a gap between sequences, a cut gzip stream). */
  damage(damage: ArchiveDamage, ofRecord = true): void {
    const s = this.summary;
    if (ofRecord) s.records++;
    s.damaged++;
    if (s.damage.length < MAX_LISTED_DAMAGE) s.damage.push(damage);
  }

  finish(): ArchiveSummary {
    const s = this.summary;
    s.byType = Object.fromEntries(this.types); // in the order first seen, as counted
    s.byVrpEventType = Object.fromEntries(this.vrpTypes);
    const iso = (t: EventTime) => {
      try {
        return formatTimestamp({ seconds: BigInt(t.seconds), nanos: t.nanos });
      } catch {
        // A VRP ts_ms may lie past 9999-12-31, which RFC 3339 cannot write.
        return `ts_ms ${t.seconds * 1000 + t.nanos / 1_000_000}`;
      }
    };
    if (this.any) {
      s.firstTimestamp = iso({ seconds: this.firstSeconds, nanos: this.firstNanos });
      s.lastTimestamp = iso({ seconds: this.lastSeconds, nanos: this.lastNanos });
    }
    if (this.minSequence !== undefined) s.firstSequence = String(this.minSequence);
    if (this.maxSequence !== undefined) s.lastSequence = String(this.maxSequence);
    return s;
  }
}

/** The summary for a person: one fact a line; `listDamage` false where each damage was printed as found. */
export function renderSummary(s: ArchiveSummary, listDamage = true): string {
  const lines = [`records: ${s.records}`, `valid events: ${s.events}`];
  for (const [type, n] of Object.entries(s.byType)) lines.push(`  ${type}: ${n}`);
  for (const [type, n] of Object.entries(s.byVrpEventType)) lines.push(`    ${type}: ${n}`);
  if (s.firstTimestamp) lines.push(`first event time: ${s.firstTimestamp}`, `last event time: ${s.lastTimestamp}`);
  if (s.firstSequence) lines.push(`log sequences: ${s.firstSequence}..${s.lastSequence}`);
  if (s.filteredOut) lines.push(`left out by filters: ${s.filteredOut}`);
  if (s.unfinishedTail)
    lines.push(
      `unfinished write at the end (not damage): ${s.unfinishedTail.source} byte ${s.unfinishedTail.offset}, ${s.unfinishedTail.bytes} bytes`,
    );
  lines.push(`damaged: ${s.damaged}`);
  if (listDamage) {
    for (const d of s.damage) lines.push(`  ${describeDamage(d).replace(/\n/g, "\n  ")}`);
    if (s.damaged > s.damage.length) lines.push(`  ... and ${s.damaged - s.damage.length} more`);
  }
  return `${lines.join("\n")}\n`;
}

/** The summary as JSON (damage positions with bigint sequences as strings). */
export function summaryToJson(s: ArchiveSummary): string {
  return JSON.stringify(s, (_key, value) => (typeof value === "bigint" ? String(value) : value), 2);
}
