/**
 * The Prometheus endpoint: GET /metrics in the text exposition format, on
 * an HTTP listener of its own (operators scrape it on a port apart from the
 * gRPC one, often on another interface).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

export interface MetricsEndpoint {
  readonly port: number;
  close(): Promise<void>;
}

/** Listen on `address` (host:port; port 0 picks one). Rejects with the address named if it cannot. */
export async function serveMetrics(address: string, registry: Registry): Promise<MetricsEndpoint> {
  const cut = address.lastIndexOf(":");
  const host = address.slice(0, cut).replace(/^\[(.*)\]$/, "$1");
  const port = Number(address.slice(cut + 1));
  const server: Server = createServer((req, res) => {
    const url = (req.url ?? "").split("?")[0];
    if (url !== "/metrics" || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: GET /metrics\n");
      return;
    }
    registry.metrics().then(
      (text) =>
        res.writeHead(200, { "content-type": registry.contentType }).end(req.method === "HEAD" ? undefined : text),
      (e: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(`${(e as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e) =>
      reject(
        new Error(
          `--metrics-address ${address}: cannot listen (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
        ),
      ),
    );
    server.listen(port, host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
