/**
 * The frames the log made durable last, with where they lie in the active
 * segment. A cursor at the head of the log (a live subscriber, the shared
 * tail) takes them from here instead of reading back what was just written:
 * that cost a file open, a read and a close on the thread pool for every
 * group commit, queued behind and ahead of the commits' own writes. They are
 * the very buffers written, so they are what the file holds; anything older
 * is read from the file, checksums and all. Bounded in frames and bytes.
 */

/** One durable frame: its record, and its place in the segment file. */
export interface HeldFrame {
  readonly sequence: bigint;
  readonly payload: Uint8Array;
  /** Byte offset of the frame in its segment. */
  readonly offset: number;
  /** The frame's length (header and payload). */
  readonly size: number;
}

export class RecentFrames {
  private file: string | undefined;
  private frames: HeldFrame[] = [];
  /** Index of the oldest frame still held (evicted ones before it are dropped in bulk). */
  private head = 0;
  private bytes = 0;

  constructor(
    private readonly maxFrames = 4096,
    private readonly maxBytes = 8 << 20,
  ) {}

  /** A frame made durable in `file` at `offset` (frames come in file order; a new file starts afresh). */
  add(file: string, frame: HeldFrame): void {
    if (file !== this.file) {
      this.file = file;
      this.frames = [];
      this.head = 0;
      this.bytes = 0;
    }
    this.frames.push(frame);
    this.bytes += frame.size;
    while (this.frames.length - this.head > this.maxFrames || this.bytes > this.maxBytes) {
      this.bytes -= this.frames[this.head]!.size;
      this.frames[this.head++] = undefined as never; // let it be collected
    }
    if (this.head > 1024 && this.head * 2 > this.frames.length) {
      this.frames = this.frames.slice(this.head);
      this.head = 0;
    }
  }

  /** The frames of `file` from byte `offset` to `end`, when every one of them is held; else undefined. */
  range(file: string, offset: number, end: number): readonly HeldFrame[] | undefined {
    if (file !== this.file || this.head === this.frames.length) return undefined;
    let lo = this.head;
    let hi = this.frames.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.frames[mid]!.offset < offset) lo = mid + 1;
      else hi = mid;
    }
    if (this.frames[lo]!.offset !== offset) return undefined;
    let last = lo;
    while (last < this.frames.length && this.frames[last]!.offset < end) last++;
    const tail = this.frames[last - 1]!;
    return tail.offset + tail.size === end ? this.frames.slice(lo, last) : undefined;
  }
}
