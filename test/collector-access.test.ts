/** Who may talk to the collector, and how: bearer tokens, TLS, mutual TLS; health and reflection for standard tools. */
import path from "node:path";
import {
  Metadata,
  credentials,
  loadPackageDefinition,
  status,
  type GrpcObject,
  type ServiceClientConstructor,
} from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bridges } from "../src/bridge/index.js";
import { SessionStartEvent } from "../src/session/models.js";
import type { EmitSessionStartResponse } from "../gen/oneiric/session/v1/session_service.js";
import { call, clientFor, rejection, startTestServer } from "./support/collector.js";
import { makeCerts } from "./support/certs.js";
import { repoRoot } from "./support/repo.js";

const event = () =>
  bridges.SessionStartEvent.fromJson(SessionStartEvent.create({ componentName: "access", shellType: "Shell" }));
const bearer = (token: string) => {
  const m = new Metadata();
  m.set("authorization", `Bearer ${token}`);
  return m;
};

function healthClient(target: string, creds = credentials.createInsecure()) {
  const def = loadSync(path.join(repoRoot, "proto/grpc/health/v1/health.proto"), { enums: String });
  const Health = ((loadPackageDefinition(def).grpc as GrpcObject).health as GrpcObject).v1 as GrpcObject;
  return new (Health.Health as ServiceClientConstructor)(target, creds);
}

test("auth on: no token and a wrong token are UNAUTHENTICATED and store nothing; the right one passes", async () => {
  const server = await startTestServer({ token: "s3cret-token" });
  const client = clientFor(server.target);
  let e = await rejection(call(client, "emitSessionStart", { event: event() }));
  assert.is(e.code, status.UNAUTHENTICATED);
  assert.match(e.details, /authorization: missing/);
  e = await rejection(call(client, "emitSessionStart", { event: event() }, { metadata: bearer("wrong-token!") }));
  assert.is(e.code, status.UNAUTHENTICATED);
  assert.is(server.collector.sessionCount, 0);
  const ok = await call<unknown, EmitSessionStartResponse>(
    client,
    "emitSessionStart",
    { event: event() },
    { metadata: bearer("s3cret-token") },
  );
  assert.is(ok.status, "created");
  assert.is(server.collector.sessionCount, 1);
  // Health checks stay open, for load balancers and orchestrators.
  const health = healthClient(server.target);
  const answer = await new Promise<{ status: string }>((resolve, reject) =>
    health.Check({ service: "" }, (err: Error | null, r: { status: string }) => (err ? reject(err) : resolve(r))),
  );
  assert.is(answer.status, "SERVING");
  health.close();
  client.close();
  await server.shutdown(1000);
});

test("health reports the collector's service, and NOT_FOUND for others", async () => {
  const server = await startTestServer();
  const health = healthClient(server.target);
  const check = (service: string) =>
    new Promise<{ status: string }>((resolve, reject) =>
      health.Check({ service }, (err: Error | null, r: { status: string }) => (err ? reject(err) : resolve(r))),
    );
  assert.is((await check("oneiric.session.v1.SessionService")).status, "SERVING");
  assert.is(((await rejection(check("no.such.Service"))) as { code: number }).code, status.NOT_FOUND);
  health.close();
  await server.shutdown(1000);
});

/** What the tests read of a reflection answer (plain objects from protobufjs; a missing part fails the test). */
interface ReflectionAnswer {
  listServicesResponse: { service: { name: string }[] };
  fileDescriptorResponse: { fileDescriptorProto: Buffer[] };
  errorResponse: { errorCode: number };
}

/** A reflection client built by protobufjs (proto-loader) from grpc-proto's own file: an implementation independent of ours. */
function reflectionClient(target: string, version: "v1" | "v1alpha") {
  const def = loadSync(path.join(repoRoot, `proto/grpc/reflection/${version}/reflection.proto`));
  const reflection = (loadPackageDefinition(def).grpc as GrpcObject).reflection as GrpcObject;
  const Client = (reflection[version] as GrpcObject).ServerReflection as ServiceClientConstructor;
  const client = new Client(target, credentials.createInsecure());
  const stream = client.ServerReflectionInfo();
  const ask = (request: object) =>
    new Promise<ReflectionAnswer>((resolve, reject) => {
      stream.once("data", resolve);
      stream.once("error", reject);
      stream.write(request);
    });
  return { ask, close: () => (stream.end(), client.close()) };
}

const fileNames = (answer: ReflectionAnswer): string[] =>
  (answer.fileDescriptorResponse.fileDescriptorProto as Buffer[]).map(
    (bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name,
  );

for (const version of ["v1", "v1alpha"] as const) {
  test(`reflection ${version} lists the services and describes them with their imports, so grpcurl-style tools can call them`, async () => {
    const server = await startTestServer();
    const reflection = reflectionClient(server.target, version);
    const names = ((await reflection.ask({ listServices: "" })).listServicesResponse.service as { name: string }[]).map(
      (s) => s.name,
    );
    for (const name of [
      "oneiric.session.v1.SessionService",
      "vrp.v1alpha1.VrpStreamService",
      "grpc.health.v1.Health",
      `grpc.reflection.${version}.ServerReflection`,
    ]) {
      assert.ok(names.includes(name), `${name} in ${names.join(", ")}`);
    }
    const files = fileNames(await reflection.ask({ fileContainingSymbol: "vrp.v1alpha1.VrpStreamService" }));
    assert.is(files[0], "vrp/v1alpha1/vrp_service.proto");
    for (const imported of ["vrp/v1alpha1/vrp_event.proto", "google/protobuf/struct.proto"])
      assert.ok(files.includes(imported), files.join(", "));
    assert.is(
      fileNames(
        await reflection.ask({ fileContainingSymbol: "oneiric.session.v1.SessionService.EmitSessionStart" }),
      )[0],
      "oneiric/session/v1/session_service.proto",
    );
    assert.is(
      fileNames(await reflection.ask({ fileByFilename: "grpc/health/v1/health.proto" }))[0],
      "grpc/health/v1/health.proto",
    );
    const missing = await reflection.ask({ fileContainingSymbol: "no.such.Symbol" });
    assert.is(missing.errorResponse.errorCode, status.NOT_FOUND);
    reflection.close();
    await server.shutdown(1000);
  });
}

test("health Watch sends the state now and each change (NOT_SERVING on shutdown)", async () => {
  const server = await startTestServer();
  const health = healthClient(server.target);
  const stream = health.Watch({ service: "vrp.v1alpha1.VrpStreamService" });
  const seen: string[] = [];
  const twice = new Promise<void>((resolve) =>
    stream.on("data", (r: { status: string }) => (seen.push(r.status), seen.length === 2 && resolve())),
  );
  stream.on("error", () => {});
  await new Promise<void>((resolve) => stream.once("data", () => resolve()));
  const stopped = server.shutdown(1000);
  await twice;
  assert.equal(seen, ["SERVING", "NOT_SERVING"]);
  stream.cancel();
  health.close();
  await stopped;
});

const certs = makeCerts();

test("TLS: a client trusting the CA gets through; a plaintext client does not", async () => {
  const server = await startTestServer({ tls: { cert: certs.serverCert, key: certs.serverKey, clientCa: undefined } });
  const target = `localhost:${server.port}`;
  const secure = clientFor(target, credentials.createSsl(certs.ca));
  assert.is(
    (await call<unknown, EmitSessionStartResponse>(secure, "emitSessionStart", { event: event() })).status,
    "created",
  );
  const plain = clientFor(target);
  assert.is(
    (await rejection(call(plain, "emitSessionStart", { event: event() }, { deadlineMs: 2000 }))).code,
    status.UNAVAILABLE,
  );
  secure.close();
  plain.close();
  await server.shutdown(1000);
});

test("mutual TLS: a client without a certificate is refused; with one it passes", async () => {
  const server = await startTestServer({ tls: { cert: certs.serverCert, key: certs.serverKey, clientCa: certs.ca } });
  const target = `localhost:${server.port}`;
  const anonymous = clientFor(target, credentials.createSsl(certs.ca));
  assert.is(
    (await rejection(call(anonymous, "emitSessionStart", { event: event() }, { deadlineMs: 2000 }))).code,
    status.UNAVAILABLE,
  );
  const known = clientFor(target, credentials.createSsl(certs.ca, certs.clientKey, certs.clientCert));
  assert.is(
    (await call<unknown, EmitSessionStartResponse>(known, "emitSessionStart", { event: event() })).status,
    "created",
  );
  assert.is(server.collector.sessionCount, 1);
  anonymous.close();
  known.close();
  await server.shutdown(1000);
});

test.run();
