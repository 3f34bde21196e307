/** How a client reaches the collector: channel credentials and call metadata. */
import { readFileSync } from "node:fs";
import { Metadata, credentials, type ChannelCredentials } from "@grpc/grpc-js";

export interface TlsOptions {
  /** PEM CA certificate(s) to trust (default: the system's). A path or the PEM itself. */
  readonly ca?: string | Buffer;
  /** PEM client certificate and key, for mutual TLS. Paths or PEM. */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
}

/** Plaintext without `tls`; TLS with the system's roots for `true`. */
export function channelCredentials(tls: boolean | TlsOptions | undefined): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  const options = tls === true ? {} : tls;
  const read = (v: string | Buffer | undefined) =>
    v === undefined ? null : Buffer.isBuffer(v) ? v : v.includes("-----BEGIN") ? Buffer.from(v) : readFileSync(v);
  return credentials.createSsl(read(options.ca), read(options.key), read(options.cert));
}

export function authMetadata(token: string | undefined): Metadata {
  const metadata = new Metadata();
  if (token) metadata.set("authorization", `Bearer ${token}`);
  return metadata;
}
