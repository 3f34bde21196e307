/**
 * Collector replicas on NATS JetStream for tests: in this process (for the
 * contract suites: fast to start, one per case) on a 3-node cluster shared
 * by the whole test process, each set under a prefix of its own.
 */
import { rmSync } from "node:fs";
import path from "node:path";
import { crc32 } from "node:zlib";
import { parseServeConfig } from "../../src/cli/serve-config.js";
import { silentLogger } from "../../src/server/logger.js";
import { startReplica, type RunningReplica } from "../../src/server/replica-server.js";
import type { ServerConfig } from "../../src/server/server-config.js";
import { NatsCluster } from "./nats-cluster.js";
import { tempDir } from "./repo.js";

let shared: Promise<NatsCluster> | undefined;

/** One 3-node cluster for the whole test process (its servers are killed when the process exits). */
export function sharedCluster(): Promise<NatsCluster> {
  shared ??= NatsCluster.start({ nodes: 3 }).then((cluster) => {
    // Suites have no "after all": the process ends when its cases are done, and takes the cluster with it.
    for (const node of cluster.nodes) node.unref();
    process.once("SIGINT", () => process.exit(130)); // stopped: the exit handlers still kill the servers
    process.on("exit", () => {
      for (const node of cluster.nodes) {
        try {
          if (node.pid) process.kill(node.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      rmSync(cluster.root, { recursive: true, force: true });
    });
    return cluster;
  });
  return shared;
}

/** serve's flags for a replica of `cluster` under `prefix`. */
export function replicaArgs(cluster: NatsCluster, prefix: string, dataDir: string): string[] {
  return ["--data-dir", dataDir, ...cluster.serveArgs(prefix)];
}

export interface ReplicaSet {
  readonly replicas: RunningReplica[];
  readonly config: ServerConfig;
  /** Every replica, "127.0.0.1:a,127.0.0.1:b,...": a client spreads its calls over them. */
  readonly target: string;
  stop(graceMs?: number): Promise<void>;
}

export async function startReplicaSet(
  options: { overrides?: Partial<ServerConfig>; dataDir?: string; count?: number; cluster?: NatsCluster } = {},
): Promise<ReplicaSet> {
  const cluster = options.cluster ?? (await sharedCluster());
  const dataDir = options.dataDir ?? tempDir("replicas-");
  // Named after the data directory: a set started again on it (a restart) finds its streams.
  const prefix = `t${crc32(path.resolve(dataDir)).toString(36)}`;
  const configs = Array.from({ length: options.count ?? 3 }, (_, i) => ({
    ...parseServeConfig(
      ["--address", "127.0.0.1:0", ...replicaArgs(cluster, prefix, path.join(dataDir, `r${i + 1}`))],
      {},
    ),
    ...options.overrides,
  }));
  const replicas = await Promise.all(configs.map((c) => startReplica(c, silentLogger)));
  return {
    replicas,
    config: configs[0]!,
    target: replicas.map((r) => `127.0.0.1:${r.port}`).join(","),
    stop: async (graceMs) => {
      await Promise.all(replicas.map((r) => r.shutdown(graceMs)));
    },
  };
}
