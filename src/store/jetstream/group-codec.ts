/**
 * An atomic group is one JetStream message (2.9 has no multi-message atomic
 * batch): a header `Se-Group: <count>` and the records, each a 4-byte
 * big-endian length and its bytes. A single record is the message body as
 * it is, with no header. JetStream checksums what it stores; the lengths
 * here are checked against the body on decode, so a short or long body is
 * refused, never half-read.
 */
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";

export const GROUP_HEADER = "Se-Group";

export function encodeGroup(payloads: readonly Uint8Array[]): { body: Uint8Array; headers: MsgHdrs | undefined } {
  if (payloads.length === 1) return { body: payloads[0]!, headers: undefined };
  const total = payloads.reduce((n, p) => n + 4 + p.length, 0);
  const body = new Uint8Array(total);
  const view = new DataView(body.buffer);
  let at = 0;
  for (const p of payloads) {
    view.setUint32(at, p.length);
    body.set(p, at + 4);
    at += 4 + p.length;
  }
  const headers = natsHeaders();
  headers.set(GROUP_HEADER, String(payloads.length));
  return { body, headers };
}

export function decodeGroup(body: Uint8Array, headers: MsgHdrs | undefined, where: string): Uint8Array[] {
  const count = headers?.get(GROUP_HEADER);
  if (!count) return [body];
  const n = Number(count);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const out: Uint8Array[] = [];
  let at = 0;
  for (let i = 0; i < n; i++) {
    if (at + 4 > body.length) throw new Error(`${where}: group of ${n} ends after ${i} records [group_truncated]`);
    const length = view.getUint32(at);
    if (at + 4 + length > body.length)
      throw new Error(`${where}: record ${i} of ${n} runs past the message [group_truncated]`);
    out.push(body.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  if (at !== body.length || !Number.isInteger(n) || n < 2)
    throw new Error(`${where}: group header says ${count} records, the body holds other bytes [group_length]`);
  return out;
}
