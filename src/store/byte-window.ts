/**
 * A window onto a stream of byte chunks: look ahead as far as a record needs,
 * then let go of what was read. Memory is the largest look-ahead asked for
 * plus one chunk, whatever the stream's length.
 *
 * Chunks read to satisfy one look-ahead are joined once, when it is
 * satisfied, so a record spread over many small chunks (gunzip gives 16 KiB)
 * costs linear time, not a copy per chunk.
 */
export class ByteWindow {
  private buffer: Buffer = Buffer.alloc(0);
  private startAt = 0; // first unread byte in buffer
  private consumed = 0; // stream offset of buffer[start]
  private done = false;
  private readonly iterator: AsyncIterator<Buffer>;

  /**
   * `onClose`: what else to close with the window (the file under a gunzip,
   * say). `startOffset`: the offset of the first chunk's first byte (a window
   * that starts inside a file reports file offsets).
   */
  constructor(
    chunks: AsyncIterable<Buffer>,
    private readonly onClose?: () => Promise<void>,
    startOffset = 0,
  ) {
    this.iterator = chunks[Symbol.asyncIterator]();
    this.consumed = startOffset;
  }

  /** Stream offset of the first unread byte. */
  get offset(): number {
    return this.consumed;
  }

  /** Unread bytes available now. */
  get available(): number {
    return this.buffer.length - this.startAt;
  }

  /** Ensure at least `n` unread bytes; false if the stream ends first (what there is stays available). */
  async want(n: number): Promise<boolean> {
    if (this.available >= n) return true;
    const parts = [this.buffer.subarray(this.startAt)];
    let have = parts[0]!.length;
    while (have < n && !this.done) {
      const next = await this.iterator.next();
      if (next.done) this.done = true;
      else {
        parts.push(next.value);
        have += next.value.length;
      }
    }
    this.buffer = parts.length === 1 ? parts[0]! : Buffer.concat(parts, have);
    this.startAt = 0;
    return have >= n;
  }

  /** The unread bytes (valid until the next `want`). */
  view(): Buffer {
    return this.buffer.subarray(this.startAt);
  }

  /**
   * The buffer view() is cut from, and where the unread bytes start in it
   * (valid until the next `want`): for a reader that indexes it directly,
   * without a view per look. Its bytes are never written again: views of it
   * stay valid after the window moves on (they keep the chunk alive).
   */
  get bytes(): Buffer {
    return this.buffer;
  }

  get start(): number {
    return this.startAt;
  }

  /** Mark `n` bytes read. */
  skip(n: number): void {
    this.startAt += n;
    this.consumed += n;
  }

  /** Read everything left, counting it, without keeping it. */
  async drain(): Promise<number> {
    let n = this.available;
    this.skip(this.available);
    while (await this.want(1)) {
      n += this.available;
      this.skip(this.available);
    }
    return n;
  }

  /** Stop reading: the stream underneath is closed (its file descriptor too). */
  async close(): Promise<void> {
    this.done = true;
    await this.iterator.return?.();
    await this.onClose?.();
  }
}
