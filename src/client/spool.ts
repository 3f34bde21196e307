/**
 * The emitter's on-disk spool: events that could not be delivered wait here,
 * in order, and are delivered once the collector is back. It is a SegmentLog
 * (durable before emit returns) plus a small state file: how far delivery has
 * got, and the session ids learnt for starts that were spooled.
 */
import { appendFile, readFile, rename, writeFile, open } from "node:fs/promises";
import path from "node:path";
import { SegmentLog } from "../store/segment-log.js";
import type { SessionEndEventJson, SessionStartEventJson } from "../contract/types.js";

export type SpooledEvent =
  | { readonly kind: "start"; readonly event: SessionStartEventJson }
  | { readonly kind: "end"; readonly event: SessionEndEventJson };

interface SpoolState {
  /** Sequence of the last record delivered. */
  delivered: string;
  /** Placeholder id -> session id the collector gave. */
  resolved: Record<string, string>;
}

export class Spool {
  private constructor(
    private readonly log: SegmentLog,
    private readonly stateFile: string,
    private state: SpoolState,
  ) {}

  static async open(dir: string): Promise<Spool> {
    const log = await SegmentLog.open({ dir: path.join(dir, "log"), segmentBytes: 4 * 1024 * 1024 });
    const stateFile = path.join(dir, "state.json");
    let state: SpoolState = { delivered: "0", resolved: {} };
    try {
      state = JSON.parse(await readFile(stateFile, "utf8")) as SpoolState;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new Error(`spool state ${stateFile} is unreadable: ${(e as Error).message}`);
    }
    return new Spool(log, stateFile, state);
  }

  /** Whether anything waits for delivery. */
  get pending(): boolean {
    return this.log.lastSequence > BigInt(this.state.delivered);
  }

  /** Keep an event; resolves once it is on disk. */
  async add(event: SpooledEvent): Promise<void> {
    await this.log.append(Buffer.from(JSON.stringify(event)));
  }

  resolvedId(placeholder: string): string | undefined {
    return Object.hasOwn(this.state.resolved, placeholder) ? this.state.resolved[placeholder] : undefined;
  }

  /**
   * Deliver waiting events in order through `send`. An outage (`isOutage`)
   * stops the drain: the event is tried again next time. Any other refusal
   * can never succeed (the collector answered): the event is moved to
   * `rejected.jsonl` beside the spool, reported to `onRejected`, and the
   * drain goes on, so one bad event cannot hold back the rest.
   * `send` returns the session id the collector gave a start.
   */
  async drain(
    send: (event: SpooledEvent) => Promise<string | undefined>,
    placeholderOf: (start: SessionStartEventJson) => string,
    isOutage: (error: unknown) => boolean,
    onRejected: (event: SpooledEvent, error: unknown) => void,
  ): Promise<number> {
    let delivered = 0;
    for await (const record of this.log.read(BigInt(this.state.delivered) + 1n)) {
      const spooled = JSON.parse(Buffer.from(record.payload).toString("utf8")) as SpooledEvent;
      const toSend: SpooledEvent =
        spooled.kind === "end"
          ? { kind: "end", event: { ...spooled.event, session_id: this.resolvedId(spooled.event.session_id) ?? spooled.event.session_id } }
          : spooled;
      const next: SpoolState = { delivered: record.sequence.toString(), resolved: { ...this.state.resolved } };
      try {
        const sessionId = await send(toSend);
        if (spooled.kind === "start" && sessionId) next.resolved[placeholderOf(spooled.event)] = sessionId;
        delivered++;
      } catch (e) {
        if (isOutage(e)) throw e; // stop here, retry later
        await appendFile(this.rejectedFile, `${JSON.stringify({ event: toSend, error: (e as Error)?.message ?? String(e), at: new Date().toISOString() })}\n`);
        onRejected(toSend, e);
      }
      await this.saveState(next);
    }
    return delivered;
  }

  private get rejectedFile(): string {
    return path.join(path.dirname(this.stateFile), "rejected.jsonl");
  }

  /** Write the state durably: a temporary file, fsync, rename. */
  private async saveState(state: SpoolState): Promise<void> {
    const tmp = `${this.stateFile}.tmp`;
    await writeFile(tmp, JSON.stringify(state));
    const handle = await open(tmp, "r");
    await handle.sync();
    await handle.close();
    await rename(tmp, this.stateFile);
    this.state = state;
  }

  close(): Promise<void> {
    return this.log.close();
  }
}
