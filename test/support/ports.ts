/**
 * Loopback ports for servers a test starts later (or restarts on the same
 * port). A port from `listen(0)` is an ephemeral port: once released, the
 * kernel may hand it to any outgoing connection as its source port (a NATS
 * route, a gRPC client), and the server started later fails with "address
 * already in use". So these ports come from below the kernel's ephemeral
 * range, which outgoing connections never take, are checked free by binding
 * them, and are never handed out twice by one test process.
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

const handedOut = new Set<number>();

/** The first port of the kernel's ephemeral range (Linux; 32768 elsewhere). */
function ephemeralLow(): number {
  try {
    const [low] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/);
    const n = Number(low);
    return Number.isInteger(n) && n > 12_000 ? n : 32_768;
  } catch {
    return 32_768;
  }
}

const LOWEST = 10_000;
const HIGHEST = ephemeralLow() - 1;

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A loopback port nothing listens on, outside the ephemeral range. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOWEST + Math.floor(Math.random() * (HIGHEST - LOWEST + 1));
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free loopback port found in ${LOWEST}-${HIGHEST} after 200 tries`);
}
