/**
 * `serve --engine file|jetstream` and the NATS flags (src/server/config.ts):
 * parsing, environment variables, errors naming the flag; and a start that
 * cannot reach its NATS servers (replicas at work: test/replicas.test.ts).
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { serve } from "../src/cli/serve.js";
import { parseServeConfig } from "../src/cli/serve-config.js";
import { tempDir } from "./support/repo.js";

const throwsWith = (fn: () => unknown, text: string) => {
  try {
    fn();
  } catch (e) {
    assert.match((e as Error).message, text);
    return;
  }
  assert.unreachable(`expected an error with ${text}`);
};

test("the file engine is the default and takes no NATS flag", () => {
  const config = parseServeConfig([], {});
  assert.is(config.engine, "file");
  assert.is(config.nats, undefined);
  throwsWith(
    () => parseServeConfig(["--nats-servers", "nats://a:4222"], {}),
    "--nats-servers: only with --engine jetstream",
  );
  throwsWith(
    () => parseServeConfig([], { SESSION_EVENTS_NATS_PREFIX: "x" }),
    "SESSION_EVENTS_NATS_PREFIX: only with --engine jetstream",
  );
  throwsWith(
    () => parseServeConfig(["--engine", "kafka"], {}),
    '--engine: must be one of file, jetstream (got "kafka")',
  );
});

test("--engine jetstream: servers, replicas, prefix, by flag or environment", () => {
  const config = parseServeConfig(
    [
      "--engine",
      "jetstream",
      "--nats-servers",
      "nats://10.0.0.1:4222,nats://10.0.0.2,tls://[::1]:4222",
      "--nats-stream-replicas",
      "3",
    ],
    {},
  );
  assert.equal(config.nats, {
    servers: ["nats://10.0.0.1:4222", "nats://10.0.0.2", "tls://[::1]:4222"],
    replicas: 3,
    prefix: "session-events",
    creds: undefined,
    token: undefined,
    tlsCa: undefined,
  });
  const fromEnv = parseServeConfig([], {
    SESSION_EVENTS_ENGINE: "jetstream",
    SESSION_EVENTS_NATS_SERVERS: "nats://n1:4222",
    SESSION_EVENTS_NATS_PREFIX: "prod-1",
  });
  assert.is(fromEnv.nats?.prefix, "prod-1");
  throwsWith(() => parseServeConfig(["--engine", "jetstream"], {}), "--nats-servers: required with --engine jetstream");
  throwsWith(
    () => parseServeConfig(["--engine", "jetstream", "--nats-servers", "http://a:1"], {}),
    "--nats-servers: each server must be nats://host[:port]",
  );
  throwsWith(
    () => parseServeConfig(["--engine", "jetstream", "--nats-servers", "nats://a", "--nats-stream-replicas", "7"], {}),
    "--nats-stream-replicas: must be an integer from 1 to 5",
  );
  throwsWith(
    () => parseServeConfig(["--engine", "jetstream", "--nats-servers", "nats://a", "--nats-prefix", "a.b"], {}),
    "--nats-prefix: must be 1 to 64 of",
  );
});

test("--nats-creds / --nats-token-file / --nats-tls-ca are files; creds and token exclude each other", () => {
  const dir = tempDir("engine-flags");
  const creds = path.join(dir, "user.creds");
  const token = path.join(dir, "token");
  writeFileSync(creds, "-----BEGIN NATS USER JWT-----\n...\n");
  writeFileSync(token, "s3cret-token\n");
  const base = ["--engine", "jetstream", "--nats-servers", "nats://a:4222"];
  assert.is(parseServeConfig([...base, "--nats-token-file", token], {}).nats?.token, "s3cret-token");
  assert.ok(parseServeConfig([...base, "--nats-creds", creds], {}).nats?.creds);
  throwsWith(
    () => parseServeConfig([...base, "--nats-creds", creds, "--nats-token-file", token], {}),
    "--nats-creds and --nats-token-file: give one, not both",
  );
  throwsWith(
    () => parseServeConfig([...base, "--nats-tls-ca", path.join(dir, "missing.pem")], {}),
    "--nats-tls-ca: cannot read",
  );
});

test("serve --engine jetstream without a reachable NATS server does not start (exit 1)", async () => {
  const dataDir = tempDir("engine-flags-");
  const code = await serve([
    "--engine",
    "jetstream",
    "--nats-servers",
    "nats://127.0.0.1:1",
    "--data-dir",
    dataDir,
    "--log-level",
    "error",
  ]);
  assert.is(code, 1);
});

test.run();
