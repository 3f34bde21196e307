/**
 * What a format reader yields before decoding: a record's bytes (or a line's
 * text) with where it was, or damage found in the framing itself.
 */
import type { DamageRule } from "./damage.js";

export type RawItem =
  | {
      readonly kind: "record";
      readonly payload: Uint8Array;
      /** Byte offset of the record in the (uncompressed) stream (none for a JetStream message). */
      readonly offset?: number;
      /** The framing's log sequence, where it has one. */
      readonly sequence?: bigint;
      /** The payload where it was read, if the reader says (the frame reader does): chunk[start..end). */
      readonly chunk?: Buffer;
      readonly start?: number;
      readonly end?: number;
      /** `sequence` as a number (NaN past 2^53), if the reader says. */
      readonly sequenceNumber?: number;
    }
  | {
      readonly kind: "line";
      readonly text: string;
      readonly offset: number;
      readonly line: number;
      readonly bytes: number;
    }
  /**
   * The end of a data directory's last segment after its last good record:
   * a write the collector has not finished (or that a crash cut), never
   * acknowledged, and what the log's own recovery would cut. Not damage.
   */
  | { readonly kind: "unfinished"; readonly offset: number; readonly bytes: number; readonly message: string }
  | {
      readonly kind: "damage";
      readonly rule: DamageRule;
      readonly message: string;
      readonly offset: number;
      /** Bytes of input the damage covers. */
      readonly bytes: number;
      readonly line?: number;
      readonly sequence?: bigint;
      /**
       * What a crash mid-write leaves (the log's recovery rule): a frame cut
       * by the end of the file, a last frame ending exactly there, or zeros
       * from here to the end.
       */
      readonly crashTail?: boolean;
    };
