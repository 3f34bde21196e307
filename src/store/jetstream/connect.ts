/**
 * A connection to the NATS servers: every URL is a seed (the client learns
 * the rest of the cluster and fails over between them), credentials from a
 * .creds file or a token, TLS with a CA. Reconnects forever: a collector
 * waits for its cluster rather than exiting.
 */
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";

export interface NatsConnectOptions {
  /** nats://host:port URLs. */
  readonly servers: readonly string[];
  /** The bytes of a NATS .creds file (JWT + nkey seed). */
  readonly creds?: Uint8Array;
  /** A token (already read from --nats-token-file). */
  readonly token?: string;
  /** PEM CA to verify the servers' certificates (TLS is on when given). */
  readonly tlsCa?: string | Uint8Array;
  /** A name servers show in their connection lists. */
  readonly name?: string;
}

export function connectNats(options: NatsConnectOptions): Promise<NatsConnection> {
  return connect({
    servers: [...options.servers],
    name: options.name ?? "session-events",
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    ...(options.creds ? { authenticator: credsAuthenticator(new Uint8Array(options.creds)) } : {}),
    ...(options.token ? { token: options.token } : {}),
    ...(options.tlsCa ? { tls: { ca: Buffer.from(options.tlsCa).toString("utf8") } } : {}),
  });
}
