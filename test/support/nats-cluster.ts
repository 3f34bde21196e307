/**
 * A real NATS JetStream cluster for tests: 1 or 3 `nats-server` processes on
 * free loopback ports, each with its own temporary store directory. Nodes can
 * be stopped, SIGKILLed and restarted (same ports, same store); waits poll the
 * servers' monitoring endpoint with a deadline, never sleep a fixed time.
 * Every server started here is killed when the test process exits, so a
 * failing test never leaves one running.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "./ports.js";

/** Where Debian puts it (/usr/sbin), or NATS_SERVER_BIN, or the PATH. */
export function natsServerBinary(): string {
  const candidates = [
    process.env.NATS_SERVER_BIN,
    "/usr/sbin/nats-server",
    "/usr/bin/nats-server",
    ...(process.env.PATH ?? "").split(":").map((d) => path.join(d, "nats-server")),
  ];
  const found = candidates.find((c): c is string => Boolean(c) && existsSync(c!));
  if (!found)
    throw new Error(
      "nats-server not found: install Debian's package (apt-get install nats-server; .ci/run does) or set NATS_SERVER_BIN",
    );
  return found;
}

const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** How long the tests wait for a JetStream election (meta or stream) before failing. */
export const ELECTION_MS = 60_000;

/** Poll `check` until it returns a value (not undefined) or the deadline passes. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 15_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ""}`,
      );
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The lines of a server log that say why it stopped ([FTL]/[ERR]), else its last lines. */
function whyExited(log: string): string {
  const lines = log.trim().split("\n");
  const errors = lines.filter((l) => /\[(FTL|ERR)\]/.test(l));
  return (errors.length > 0 ? errors : lines.slice(-3)).join("\n");
}

export class NatsNode {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    readonly port: number,
    readonly clusterPort: number,
    readonly monitorPort: number,
    readonly storeDir: string,
    private readonly configFile: string,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** The process id while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Start the process and wait until its client port answers. */
  async start(): Promise<void> {
    if (this.child) return;
    const child = spawn(natsServerBinary(), ["-c", this.configFile], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    running.add(child);
    this.child = child;
    this.exited = new Promise((resolve) =>
      child.on("exit", () => {
        running.delete(child);
        if (this.child === child) this.child = undefined;
        resolve();
      }),
    );
    await until(`${this.name} to serve on ${this.port}`, async () => {
      if (!this.child) throw new Error(`${this.name} exited: ${whyExited(stderr)}`);
      return (await this.monitor("/healthz?js-enabled-only=true")) === undefined ? undefined : true;
    });
  }

  /** Let the test process exit while the server runs (its exit handler still kills it). */
  unref(): void {
    this.child?.unref();
    (this.child?.stderr as { unref?: () => void } | null)?.unref?.();
  }

  /** SIGTERM (a clean shutdown), then SIGKILL if it does not exit within 10 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await this.exited;
    clearTimeout(killer);
  }

  /** A crash: no shutdown, no flush. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill("SIGKILL");
    await this.exited;
  }

  /** GET a monitoring endpoint; undefined when the server does not answer (yet). */
  // biome-ignore lint/suspicious/noExplicitAny: the monitoring JSON is read ad hoc by the tests
  async monitor(endpoint: string): Promise<any> {
    try {
      const response = await fetch(`http://127.0.0.1:${this.monitorPort}${endpoint}`, {
        signal: AbortSignal.timeout(2000),
      });
      if (!response.ok) return undefined;
      return await response.json();
    } catch {
      return undefined;
    }
  }
}

export interface NatsClusterOptions {
  /** 1 (a single JetStream server) or 3 (a cluster). */
  readonly nodes: 1 | 3;
  /** Extra lines for every server's configuration. */
  readonly extraConfig?: string;
}

export class NatsCluster {
  private constructor(
    readonly nodes: NatsNode[],
    /** The directory of every node's configuration and store. */
    readonly root: string,
  ) {}

  /** Write configurations on free ports and start every node; waits for a meta leader. */
  static async start(options: NatsClusterOptions): Promise<NatsCluster> {
    const root = await mkdtemp(path.join(tmpdir(), "se-nats-"));
    const count = options.nodes;
    const ports = await Promise.all(
      Array.from({ length: count }, async () => ({
        client: await freePort(),
        cluster: await freePort(),
        monitor: await freePort(),
      })),
    );
    const nodes = await Promise.all(
      ports.map(async (p, i) => {
        const name = `n${i + 1}`;
        const storeDir = path.join(root, name);
        const routes = ports.map((q) => `nats-route://127.0.0.1:${q.cluster}`).join(", ");
        const lines = [
          `server_name: ${name}`,
          `listen: 127.0.0.1:${p.client}`,
          `http: 127.0.0.1:${p.monitor}`,
          `jetstream { store_dir: "${storeDir}", max_memory_store: 64MB, max_file_store: 1GB }`,
          count > 1 ? `cluster { name: se-test, listen: 127.0.0.1:${p.cluster}, routes: [${routes}] }` : "",
          options.extraConfig ?? "",
        ];
        const configFile = path.join(root, `${name}.conf`);
        await writeFile(configFile, `${lines.join("\n")}\n`);
        return new NatsNode(name, p.client, p.cluster, p.monitor, storeDir, configFile);
      }),
    );
    const cluster = new NatsCluster(nodes, root);
    try {
      await Promise.all(nodes.map((n) => n.start()));
      await cluster.waitForMetaLeader();
    } catch (e) {
      await cluster.destroy();
      throw e;
    }
    return cluster;
  }

  /** `session-events serve`'s flags for a replica on this cluster, its streams named under `prefix`. */
  serveArgs(prefix: string): string[] {
    return [
      "--engine",
      "jetstream",
      "--nats-servers",
      this.servers,
      "--nats-stream-replicas",
      String(this.nodes.length),
      "--nats-prefix",
      prefix,
    ];
  }

  /** Client URLs of every node (running or not), comma-separated. */
  get servers(): string {
    return this.nodes.map((n) => n.url).join(",");
  }

  /**
   * The name of the JetStream meta leader, once every running node agrees there is one.
   * The deadlines of these waits are generous: an election on a loaded 2-core machine
   * (3 servers fsyncing beside the test) has been seen to take over 20 s.
   */
  async waitForMetaLeader(timeoutMs = ELECTION_MS): Promise<string> {
    return until(
      "a JetStream meta leader",
      async () => {
        const up = this.nodes.filter((n) => n.running);
        const answers = await Promise.all(up.map((n) => n.monitor("/jsz")));
        const leaders = answers.map((a) => (this.nodes.length === 1 ? "n1" : a?.meta_cluster?.leader));
        // Every running node names the same leader, and it is one of them (not a node just killed).
        const agreed =
          leaders.length > 0 && leaders.every((l) => l && l === leaders[0]) && up.some((n) => n.name === leaders[0]);
        return agreed ? (leaders[0] as string) : undefined;
      },
      timeoutMs,
    );
  }

  /**
   * The node leading a stream's raft group, as that node itself says: a
   * follower may still name a leader that was just killed.
   */
  async waitForStreamLeader(stream: string, timeoutMs = ELECTION_MS): Promise<string> {
    return until(
      `a leader for stream ${stream}`,
      async () => {
        for (const node of this.nodes.filter((n) => n.running)) {
          const jsz = await node.monitor("/jsz?streams=true");
          for (const account of jsz?.account_details ?? []) {
            for (const s of account.stream_detail ?? []) {
              if (s.name === stream && s.cluster?.leader === node.name) return node.name;
            }
          }
        }
        return undefined;
      },
      timeoutMs,
    );
  }

  /** Wait until a node holds a stream with at least `messages` messages (it has caught up). */
  async waitForNodeToHold(
    node: NatsNode,
    stream: string,
    lastSequence: number,
    timeoutMs = ELECTION_MS,
  ): Promise<void> {
    await until(
      `${node.name} to hold ${stream} up to ${lastSequence}`,
      async () => {
        const jsz = await node.monitor("/jsz?streams=true");
        for (const account of jsz?.account_details ?? []) {
          for (const s of account.stream_detail ?? []) {
            if (s.name === stream && s.state?.last_seq >= lastSequence) return true;
          }
        }
        return undefined;
      },
      timeoutMs,
    );
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }

  async startAll(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.start()));
    await this.waitForMetaLeader();
  }

  /** Kill every node and remove the store directories. */
  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.kill()));
    await rm(this.root, { recursive: true, force: true });
  }
}
