/**
 * A progress line for a terminal: bar, percent, MB/s, events/s and ETA,
 * redrawn in place at most a few times a second, and cleared at the end.
 * Callers make one only when the stream is a terminal: piped or redirected
 * output gets no progress noise.
 */
import type { ReadProgress } from "./read.js";

const REDRAW_MS = 200;
const BAR_WIDTH = 24;

export class ProgressBar {
  private readonly started = performance.now();
  private lastDraw = -Infinity; // the first update draws at once
  private drawn = false;

  constructor(
    private readonly stream: NodeJS.WritableStream,
    private readonly label: string,
  ) {}

  update(progress: ReadProgress): void {
    const now = performance.now();
    if (now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    this.stream.write(`\r${renderProgress(this.label, progress, (now - this.started) / 1000)}\x1b[K`);
    this.drawn = true;
  }

  /** Remove the line, so what follows starts clean. */
  clear(): void {
    if (this.drawn) this.stream.write("\r\x1b[K");
    this.drawn = false;
  }
}

/** One progress line (pure, for tests): "export [=====>    ]  42%  12.3 MB/s  45,678 events/s  ETA 0:12". */
export function renderProgress(label: string, p: ReadProgress, seconds: number): string {
  const mbPerSecond = seconds > 0 ? p.bytes / 1e6 / seconds : 0;
  const eventsPerSecond = seconds > 0 ? Math.round(p.events / seconds) : 0;
  const rates = `${mbPerSecond.toFixed(1)} MB/s  ${eventsPerSecond.toLocaleString("en-US")} events/s`;
  if (!p.totalBytes)
    return `${label} ${(p.bytes / 1e6).toFixed(1)} MB  ${p.events.toLocaleString("en-US")} events  ${rates}`;
  const fraction = Math.min(1, p.bytes / p.totalBytes);
  const filled = Math.round(fraction * BAR_WIDTH);
  const bar = "=".repeat(Math.max(0, filled - 1)) + (filled > 0 ? ">" : "") + " ".repeat(BAR_WIDTH - filled);
  const eta = fraction > 0 && seconds > 0 ? clock((seconds / fraction) * (1 - fraction)) : "--:--";
  return `${label} [${bar}] ${String(Math.floor(fraction * 100)).padStart(3)}%  ${rates}  ETA ${eta}`;
}

function clock(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}
