/**
 * A connection to the NATS servers: every URL is a seed (the client learns
 * the rest of the cluster and fails over between them), credentials from a
 * .creds file or a token, TLS with a CA. Reconnects forever: a collector
 * waits for its cluster rather than exiting.
 */
import { readFileSync } from "node:fs";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";

export interface NatsConnectOptions {
  /** nats://host:port URLs. */
  readonly servers: readonly string[];
  /** A NATS .creds file (JWT + nkey seed). */
  readonly credsFile?: string;
  /** A token (already read from --nats-token-file). */
  readonly token?: string;
  /** PEM CA to verify the servers' certificates (TLS is on when given). */
  readonly tlsCaFile?: string;
  /** A name servers show in their connection lists. */
  readonly name?: string;
}

export function connectNats(options: NatsConnectOptions): Promise<NatsConnection> {
  return connect({
    servers: [...options.servers],
    name: options.name ?? "session-events",
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    ...(options.credsFile ? { authenticator: credsAuthenticator(new Uint8Array(readFileSync(options.credsFile))) } : {}),
    ...(options.token ? { token: options.token } : {}),
    ...(options.tlsCaFile ? { tls: { caFile: options.tlsCaFile } } : {}),
  });
}
