/** A real collector on loopback for tests, and a promise-shaped client for it. */
import { Metadata, credentials, type ChannelCredentials, type ServiceError } from "@grpc/grpc-js";
import { parseServeConfig, type ServerConfig } from "../../src/cli/serve-config.js";
import { silentLogger } from "../../src/server/logger.js";
import { startServer, type RunningServer } from "../../src/server/server.js";
import { SessionServiceClient } from "../../gen/oneiric/session/v1/session_service.js";
import { tempDir } from "./repo.js";

export interface TestServer extends RunningServer {
  readonly dataDir: string;
  readonly target: string;
  readonly config: ServerConfig;
}

export async function startTestServer(
  overrides: Partial<ServerConfig> = {},
  dataDir = tempDir("collector-"),
): Promise<TestServer> {
  const config = { ...parseServeConfig(["--address", "127.0.0.1:0", "--data-dir", dataDir], {}), ...overrides };
  const running = await startServer(config, silentLogger);
  return Object.assign(running, { dataDir, config, target: `127.0.0.1:${running.port}` });
}

type Callback<Res> = (error: ServiceError | null, response: Res) => void;

/** Call a unary method as a promise, with optional metadata and deadline. */
export function call<Req, Res>(
  client: SessionServiceClient,
  method: "emitSessionStart" | "emitSessionEnd" | "getSession" | "listSessions",
  request: Req,
  { metadata = new Metadata(), deadlineMs = 5000 }: { metadata?: Metadata; deadlineMs?: number } = {},
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
  return new SessionServiceClient(target, creds);
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
