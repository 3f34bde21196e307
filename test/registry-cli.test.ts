/** The schema registry and `session-events schemas export`, run as a real process. */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import YAML from "yaml";
import { exportSchemasToFile, getAllSchemas, getSchema, validateEventJson } from "../src/session/registry.js";
import { ValidationError } from "../src/contract/errors.js";
import { cliBin, tempDir } from "./support/repo.js";
import { validStart } from "./support/fixtures.js";

const cli = (...args: string[]) => spawnSync(process.execPath, [cliBin, ...args], { encoding: "utf8" });

test("getSchema: an unknown name fails, listing the known ones", () => {
  assert.throws(
    () => getSchema("SessionPauseEvent"),
    /Unknown model: "SessionPauseEvent" \(known models: SessionStartEvent, SessionEndEvent, UserInfo, EnvironmentInfo, VrpEvent\)/,
  );
  assert.throws(() => getSchema("__proto__"), /Unknown model/);
  assert.throws(() => getSchema("toString"), /Unknown model/);
});

test("validateEventJson validates by name", () => {
  assert.is((validateEventJson("SessionStartEvent", JSON.stringify(validStart())) as { pid: number }).pid, 12345);
  assert.throws(
    () => validateEventJson("SessionStartEvent", "{}"),
    (e: unknown) => e instanceof ValidationError,
  );
  assert.throws(() => validateEventJson("Nope", "{}"), /known models/);
});

test("exportSchemasToFile writes JSON and YAML that read back as the schemas", () => {
  const dir = tempDir();
  exportSchemasToFile(path.join(dir, "s.json"));
  exportSchemasToFile(path.join(dir, "s.yaml"), "yaml");
  assert.equal(JSON.parse(readFileSync(path.join(dir, "s.json"), "utf8")), getAllSchemas());
  assert.equal(YAML.parse(readFileSync(path.join(dir, "s.yaml"), "utf8")), getAllSchemas());
});

test("exportSchemasToFile: an unsupported format fails and writes no file", () => {
  const dir = tempDir();
  assert.throws(
    () => exportSchemasToFile(path.join(dir, "s.xml"), "xml"),
    /Unsupported format: "xml" \(expected one of: json, yaml\)/,
  );
  assert.equal(readdirSync(dir), []);
});

test("exportSchemasToFile: an unwritable path fails clearly and leaves no temporary file", () => {
  const dir = tempDir();
  const target = path.join(dir, "missing", "s.json");
  assert.throws(
    () => exportSchemasToFile(target),
    (e: Error) => /ENOENT/.test(e.message) && e.message.includes(`'${target}'`) && !e.message.includes(".tmp"),
  );
  assert.equal(readdirSync(dir), []);
  const r = cli("schemas", "export", "-o", target);
  assert.is(r.status, 1);
  assert.ok(r.stderr.includes(`'${target}'`) && !r.stderr.includes(".tmp"), r.stderr); // the user's path, not our temporary file
});

test("CLI: schemas export to stdout (json by default)", () => {
  const r = cli("schemas", "export");
  assert.is(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout), getAllSchemas());
});

test("CLI: schemas export --format yaml PATH, and format from the extension", () => {
  const dir = tempDir();
  let r = cli("schemas", "export", "--format", "yaml", path.join(dir, "out.txt"));
  assert.is(r.status, 0, r.stderr);
  assert.equal(YAML.parse(readFileSync(path.join(dir, "out.txt"), "utf8")), getAllSchemas());
  r = cli("schemas", "export", "-o", path.join(dir, "out.json"));
  assert.is(r.status, 0, r.stderr);
  assert.equal(JSON.parse(readFileSync(path.join(dir, "out.json"), "utf8")), getAllSchemas());
  r = cli("schemas", "export", path.join(dir, "out.yml")); // the older form: FILE as an argument
  assert.is(r.status, 0, r.stderr);
  assert.equal(YAML.parse(readFileSync(path.join(dir, "out.yml"), "utf8")), getAllSchemas());
});

test("CLI: bad flags and formats are usage errors (exit 2) that name the problem, and write nothing", () => {
  const dir = tempDir();
  const target = path.join(dir, "out.json");
  const cases: [string[], RegExp][] = [
    [
      ["schemas", "export", "--format", "xml", target],
      /--format: Unsupported format: "xml" \(expected one of: json, yaml\)/,
    ],
    [["schemas", "export", "--colour", target], /--colour: unknown flag/],
    [["schemas", "export", "a.json", "b.json"], /at most one FILE/],
    [["schemas", "export", "-o", target, "b.json"], /--output: give the file once/],
    [
      ["schemas", "export", "--target", "127.0.0.1:1"],
      /--target: unknown flag \('schemas export' does not call a collector\)/,
    ],
    [["schemas", "import"], /schemas import: unknown command/],
    [
      ["schemas", "export", "--version", "9.9", target],
      /--version: unknown contract version "9\.9" \(known versions: 1\.0\)/,
    ],
  ];
  for (const [args, message] of cases) {
    const r = cli(...args);
    assert.is(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  assert.not.ok(existsSync(target));
});

test("CLI: --version picks a released contract version; the default is the current one", () => {
  const dir = tempDir();
  const r = cli("schemas", "export", "--version", "1.0", path.join(dir, "v1.0.json"));
  assert.is(r.status, 0, r.stderr);
  assert.equal(JSON.parse(readFileSync(path.join(dir, "v1.0.json"), "utf8")), getAllSchemas("1.0"));
  assert.equal(JSON.parse(cli("schemas", "export").stdout), getAllSchemas("1.0"));
});

test("CLI: --help prints usage", () => {
  const r = cli("schemas", "export", "--help");
  assert.is(r.status, 0);
  assert.match(r.stdout, /session-events schemas export \[--format json\|yaml\] \[--version X\] \[-o FILE\]/);
  assert.match(cli("--help").stdout, /^usage: session-events <command>/);
});

test.run();
