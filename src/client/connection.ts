/** How a client reaches the collector(s): target list, channel credentials and call metadata. */
import { lookup } from "node:dns/promises";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { Metadata, credentials, experimental, status, type ChannelCredentials } from "@grpc/grpc-js";
import { SessionEventsError } from "../errors.js";

/** TLS to the collector: a CA to trust, and a client certificate and key for mutual TLS (paths or PEM). */
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

/**
 * Several collectors as one target: "a:50051,b:50051,c:50051". gRPC gets a
 * channel over all of them (round robin over the ones that are up, each
 * host resolved through DNS), so a call that fails UNAVAILABLE because its
 * collector went away is retried, with the same event, on another one (safe:
 * the collectors are idempotent on event_id). One target stays as it is.
 * With TLS, every collector's certificate must name the first target's host.
 */
export function channelTarget(target: string): string {
  const targets = parseTargets(target);
  if (targets.length === 1) return targets[0]!;
  registerMultiTargetResolver();
  return `${MULTI_SCHEME}:${targets.join(",")}`;
}

/** "a:1, b:2" -> ["a:1", "b:2"]; each must be host:port. */
export function parseTargets(target: string): string[] {
  const targets = target.split(",").map((t) => t.trim());
  for (const t of targets) {
    if (!/^(\[[0-9a-fA-F:.]+\]|[^:\s,[\]]+):\d{1,5}$/.test(t)) {
      throw new SessionEventsError(
        `target: each collector must be host:port, comma-separated (got ${JSON.stringify(t)} in ${JSON.stringify(target)})`,
        {
          code: "INVALID_ARGUMENT",
          issues: [{ path: "target", rule: "host_port_list", message: "host:port[,host:port...]" }],
        },
      );
    }
  }
  return targets;
}

const MULTI_SCHEME = "session-events-targets";
const MIN_RESOLUTION_INTERVAL_MS = 1000;
let registered = false;

function registerMultiTargetResolver(): void {
  if (registered) return;
  registered = true;
  const serviceConfig = { loadBalancingConfig: [{ round_robin: {} }], methodConfig: [] };

  class MultiTargetResolver {
    private active = false;
    private last = 0;
    private timer: NodeJS.Timeout | undefined;
    constructor(
      private readonly target: { path: string },
      // biome-ignore lint/suspicious/noExplicitAny: grpc-js's resolver listener takes differently typed arguments per call
      private readonly listener: (...args: any[]) => boolean,
    ) {}
    /**
     * grpc-js asks again each time a collector fails; answering at once
     * would spin (the same addresses, the same failure), so answers are at
     * least a second apart, like grpc-js's own DNS resolver.
     */
    updateResolution(): void {
      this.active = true;
      if (this.timer) return;
      const wait = Math.max(0, this.last + MIN_RESOLUTION_INTERVAL_MS - Date.now());
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.last = Date.now();
        void this.resolve();
      }, wait);
      this.timer.unref();
    }
    private async resolve(): Promise<void> {
      const lists = await Promise.all(
        this.target.path.split(",").map(async (hostPort) => {
          const at = hostPort.lastIndexOf(":");
          const host = hostPort.slice(0, at).replace(/^\[|\]$/g, "");
          const port = Number(hostPort.slice(at + 1));
          const found = isIP(host) ? [{ address: host }] : await lookup(host, { all: true }).catch(() => []);
          return found.map(({ address }) => ({ addresses: [{ host: address, port }] }));
        }),
      );
      if (!this.active) return;
      const endpoints = lists.flat();
      if (endpoints.length === 0) {
        this.listener(
          experimental.statusOrFromError({
            code: status.UNAVAILABLE,
            details: `no address for any of ${this.target.path}`,
            metadata: new Metadata(),
          }),
          {},
          null,
          "",
        );
      } else {
        this.listener(experimental.statusOrFromValue(endpoints), {}, experimental.statusOrFromValue(serviceConfig), "");
      }
    }
    destroy(): void {
      this.active = false;
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    static getDefaultAuthority(target: { path: string }): string {
      return target.path.split(",")[0]!;
    }
  }
  experimental.registerResolver(MULTI_SCHEME, MultiTargetResolver as never);
}
