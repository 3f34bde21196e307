/**
 * A window onto a stream of byte chunks: look ahead as far as a record needs,
 * then let go of what was read. Memory is the largest look-ahead asked for
 * plus one chunk, whatever the stream's length.
 */
export class ByteWindow {
  private buffer: Buffer = Buffer.alloc(0);
  private start = 0; // first unread byte in buffer
  private consumed = 0; // stream offset of buffer[start]
  private done = false;
  private readonly iterator: AsyncIterator<Buffer>;

  constructor(chunks: AsyncIterable<Buffer>) {
    this.iterator = chunks[Symbol.asyncIterator]();
  }

  /** Stream offset of the first unread byte. */
  get offset(): number {
    return this.consumed;
  }

  /** Unread bytes available now. */
  get available(): number {
    return this.buffer.length - this.start;
  }

  /** Ensure at least `n` unread bytes; false if the stream ends first. */
  async want(n: number): Promise<boolean> {
    while (this.available < n) {
      if (this.done) return false;
      const next = await this.iterator.next();
      if (next.done) {
        this.done = true;
        return false;
      }
      const rest = this.buffer.subarray(this.start);
      this.buffer = rest.length === 0 ? next.value : Buffer.concat([rest, next.value]);
      this.start = 0;
    }
    return true;
  }

  /** The unread bytes (valid until the next `want`). */
  view(): Buffer {
    return this.buffer.subarray(this.start);
  }

  /** Mark `n` bytes read. */
  skip(n: number): void {
    this.start += n;
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
}
