/**
 * A real collector on loopback for tests, and a promise-shaped client for it.
 *
 * With SE_TEST_ENGINE=replicas (test/replica-contract.test.ts runs the
 * contract suites so), a "collector" is 3 JetStream replicas on a 3-node
 * cluster (R3), and its target lists all three: clients spread their calls
 * round robin over them. Cases about the file engine itself run with
 * `fileEngineOnly` and are skipped there.
 */
import { Metadata, credentials, type ChannelCredentials, type ServiceError } from "@grpc/grpc-js";
import { parseServeConfig, type ServerConfig } from "../../src/cli/serve-config.js";
import { silentLogger } from "../../src/server/logger.js";
import { startServer, type RunningServer } from "../../src/server/server.js";
import { SessionServiceClient } from "../../gen/oneiric/session/v1/session_service.js";
import { test } from "uvu";
import { channelTarget } from "../../src/client/connection.js";
import { tempDir } from "./repo.js";
import { startReplicaSet } from "./replica-set.js";

/** The contract suites run against 3 JetStream replicas (see the top of this file). */
export const ON_REPLICAS = process.env.SE_TEST_ENGINE === "replicas";
/** A case about the file engine itself (its data directory, its log): skipped on replicas. */
export const fileEngineOnly = ON_REPLICAS ? test.skip : test;

export interface TestServer extends RunningServer {
  readonly dataDir: string;
  readonly target: string;
  readonly config: ServerConfig;
  /** Until the collector whose state the test reads (`collector`, `vrp`) has applied every write acknowledged so far (at once on the file engine). */
  settled(): Promise<void>;
}

export async function startTestServer(
  overrides: Partial<ServerConfig> = {},
  dataDir = tempDir("collector-"),
): Promise<TestServer> {
  if (ON_REPLICAS) {
    const set = await startReplicaSet({ overrides, dataDir });
    const first = set.replicas[0]!;
    // The shape of a collector (the parts the contract suites read: the first replica's), serving on all three.
    return Object.assign(
      {
        port: first.port,
        collector: first.collector,
        vrp: first.vrp,
        metricsPort: first.metricsPort,
        shutdown: (graceMs?: number) => set.stop(graceMs),
      } as unknown as RunningServer,
      {
        dataDir,
        config: set.config,
        target: set.target,
        settled: async () => {
          await first.appliers.sessions.readIndex();
          await first.appliers.vrp.readIndex();
        },
      },
    );
  }
  const config = { ...parseServeConfig(["--address", "127.0.0.1:0", "--data-dir", dataDir], {}), ...overrides };
  const running = await startServer(config, silentLogger);
  return Object.assign(running, { dataDir, config, target: `127.0.0.1:${running.port}`, settled: async () => {} });
}

type Callback<Res> = (error: ServiceError | null, response: Res) => void;

/**
 * Call a unary method as a promise, with optional metadata and deadline. The
 * default deadline only keeps a broken case from hanging: on replicas an
 * append waits for a quorum of 3 servers' fsyncs, seconds on a loaded machine.
 */
export function call<Req, Res>(
  client: SessionServiceClient,
  method: "emitSessionStart" | "emitSessionEnd" | "getSession" | "listSessions",
  request: Req,
  { metadata = new Metadata(), deadlineMs = 30_000 }: { metadata?: Metadata; deadlineMs?: number } = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    (client[method] as unknown as (r: Req, m: Metadata, o: object, cb: Callback<Res>) => void)(
      request,
      metadata,
      { deadline: Date.now() + deadlineMs },
      (e, r) => (e ? reject(e) : resolve(r)),
    );
  });
}

export function clientFor(
  target: string,
  creds: ChannelCredentials = credentials.createInsecure(),
): SessionServiceClient {
  // Several collectors ("a:1,b:2"): calls spread round robin over them, as the clients' own channels do.
  return new SessionServiceClient(target.includes(",") ? channelTarget(target) : target, creds);
}

/** The error a promise rejects with. */
export async function rejection(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (e) {
    return e as ServiceError;
  }
  throw new Error("expected the call to fail");
}
