/**
 * The README as a user follows it: its shell quick start runs as written, on
 * a fresh data directory; every ```js example in it and in docs/ runs; its
 * tables match the code they describe.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { repoRoot, tempDir } from "./support/repo.js";

const readme = readFileSync(path.join(repoRoot, "README.md"), "utf8");
const docs = readdirSync(path.join(repoRoot, "docs"))
  .filter((f) => f.endsWith(".md"))
  .map((f) => ({ name: `docs/${f}`, text: readFileSync(path.join(repoRoot, "docs", f), "utf8") }));
const examples = [{ name: "README.md", text: readme }, ...docs].flatMap(({ name, text }) =>
  [...text.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => ({ name, code: m[1]! })),
);
// Inside the package, so `import ... from "session-events"` resolves to it.
const dir = path.join(repoRoot, "dist", "readme-examples");

test("the README has examples", () => {
  assert.ok(examples.length >= 4, `${examples.length} examples`);
});

examples.forEach(({ name, code }, i) => {
  test(`example ${i + 1} (${name}) runs`, () => {
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `example-${i + 1}.mjs`);
    writeFileSync(file, code);
    const { FORCE_COLOR, ...env } = process.env; // NO_COLOR + FORCE_COLOR makes Node warn on stderr
    void FORCE_COLOR;
    const r = spawnSync(process.execPath, [file], { encoding: "utf8", cwd: repoRoot, env });
    assert.is(r.status, 0, `${r.stderr}\n--- example ---\n${code}`);
    assert.is(r.stderr, "");
  });
});

test("the README's configuration table names every serve option, its variable and default", async () => {
  const { SERVE_OPTIONS } = await import("../src/cli/serve-config.js");
  for (const option of Object.values(SERVE_OPTIONS) as { flag: string; env: string; default?: string }[]) {
    const row = readme.split("\n").find((line) => line.startsWith("|") && line.includes(`\`--${option.flag}\``));
    assert.ok(row, `no README row for --${option.flag}`);
    assert.ok(row!.includes(`\`${option.env}\``), `--${option.flag}: ${option.env} missing`);
    if (option.default)
      assert.ok(row!.includes(`\`${option.default}\``), `--${option.flag}: default ${option.default} missing`);
  }
});

test("docs/vrp-state-machine.md's transition table is the machine's table, row for row", async () => {
  const readme = docs.find((d) => d.name === "docs/vrp-state-machine.md")!.text;
  const { TRANSITIONS } = await import("../src/vrp/transitions.js");
  const { AUDIT_RULES } = await import("../src/vrp/audits.js");
  for (const t of TRANSITIONS) {
    const row = readme
      .split("\n")
      .find((l) => l.startsWith("|") && l.includes(`\`${t.reason}\``) && l.includes(`| ${t.to} |`));
    assert.ok(row, `no README row for ${t.on} -> ${t.to} (${t.reason})`);
    assert.ok(row!.includes(`\`${t.on}\``), `${t.reason}: event ${t.on} missing`);
  }
  for (const rule of Object.keys(AUDIT_RULES)) {
    assert.ok(readme.includes(`| \`${rule}\` |`), `audit rule ${rule} not documented`);
  }
});

/** The quick start's block: the ```sh block that starts the collector in the background. */
const quickStart = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)]
  .map((m) => m[1]!)
  .find((block) => /^npm start &/m.test(block));

const hasGrpcurl = spawnSync("grpcurl", ["-version"]).status === 0;

test("the README's shell quick start runs as written: start, health, emit, get, end, stop", async () => {
  assert.ok(quickStart, "no quick start block in the README");
  // As written, with what a test must choose: a free port (the README's is 50051),
  // a fresh data directory (the default, through its variable), and no rebuild
  // (npm_config_ignore_scripts skips only `prestart`: the suite has built dist/
  // and is running from it).
  const free = createServer().listen(0, "127.0.0.1");
  await new Promise((r) => free.once("listening", r));
  const port = (free.address() as AddressInfo).port;
  await new Promise((r) => free.close(r));
  let script = quickStart!.replaceAll("127.0.0.1:50051", `127.0.0.1:${port}`);
  if (!hasGrpcurl) {
    console.log("readme quick start: grpcurl is not installed; its line is left out");
    script = script.replace(/^grpcurl .*$/m, ":");
  }
  const dataDir = path.join(tempDir("quickstart-"), "data");
  const { FORCE_COLOR, ...env } = process.env;
  void FORCE_COLOR;
  // `timeout`: a collector left running would hold the pipes open, and this test with them.
  const child = spawn("timeout", ["300", "bash", "-euo", "pipefail", "-c", `set -x\n${script}`], {
    cwd: repoRoot,
    env: {
      ...env,
      SESSION_EVENTS_ADDRESS: `127.0.0.1:${port}`,
      SESSION_EVENTS_TARGET: `127.0.0.1:${port}`,
      SESSION_EVENTS_DATA_DIR: dataDir,
      npm_config_offline: "true",
      npm_config_ignore_scripts: "true",
    },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d));
  child.stderr.on("data", (d: Buffer) => (stderr += d));
  const closing = new Promise<boolean>((resolve) => child.on("close", () => resolve(true)));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  let timer: NodeJS.Timeout | undefined;
  const closed = await Promise.race([
    closing,
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 10_000))),
  ]);
  clearTimeout(timer);
  const trace = `--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`;
  assert.is(code, 0, trace);
  assert.ok(closed, `something the script started still holds its output open (a collector left running?)\n${trace}`);
  // health, the session (open), the end: in that order on stdout (npm's own "> ..." lines aside).
  const [health, ...rest] = stdout.split("\n").filter((line) => line !== "" && !line.startsWith("> "));
  rest.push("");
  assert.is(health, "SERVING", trace);
  const session = JSON.parse(rest.slice(0, -2).join("\n")) as { session_id: string; status: string };
  assert.is(session.status, "open", trace);
  assert.equal(JSON.parse(rest.at(-2)!), { session_id: session.session_id, status: "ended" }, trace);
  assert.match(stderr, /"msg":"stopped"/, "the collector stopped on SIGTERM, gracefully");
  assert.ok(
    readdirSync(dataDir).some((f) => f.endsWith(".seg")),
    "the events are in the fresh data directory",
  );
});

test.run();
