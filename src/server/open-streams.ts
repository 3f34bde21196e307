/**
 * The long-lived calls a server holds open (Subscribe, StreamEvents, health
 * Watch). At the start of a shutdown they are ended at once with UNAVAILABLE,
 * which tells a client to reconnect (elsewhere, or here after the restart):
 * a stream has no natural end, so the grace period would only be spent
 * waiting for it. Unary calls keep the grace period. The same list answers
 * the metrics' questions: how many subscribers, how far behind, how many
 * streams held back by backpressure.
 */
export type StreamKind = "Subscribe" | "StreamEvents" | "Watch";

export interface OpenStream {
  readonly kind: StreamKind;
  /** Reading or writing is paused: the peer (or the disk) is not keeping up. */
  heldBack(): boolean;
  /** A subscriber's position in the log (the last sequence it has read past). */
  position?(): bigint;
  /** End the call now with UNAVAILABLE and `details` (a stream may first send what it owes). */
  close(details: string): void;
}

export class OpenStreams {
  private readonly streams = new Set<OpenStream>();
  private closing: string | undefined;

  /** Register a stream; returns its removal. A stream opened while shutting down is closed at once. */
  add(stream: OpenStream): () => void {
    if (this.closing !== undefined) {
      stream.close(this.closing);
      return () => {};
    }
    this.streams.add(stream);
    return () => this.streams.delete(stream);
  }

  /** End every stream (and every later one) with UNAVAILABLE. */
  closeAll(details: string): void {
    this.closing = details;
    for (const stream of [...this.streams]) {
      this.streams.delete(stream);
      stream.close(details);
    }
  }

  *[Symbol.iterator](): IterableIterator<OpenStream> {
    yield* this.streams;
  }
}
