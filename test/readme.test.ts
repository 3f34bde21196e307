/** Every ```js example in the README runs, as a user would run it. */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { repoRoot } from "./support/repo.js";

const readme = readFileSync(path.join(repoRoot, "README.md"), "utf8");
const examples = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!);
// Inside the package, so `import ... from "session-events"` resolves to it.
const dir = path.join(repoRoot, "dist", "readme-examples");

test("the README has examples", () => {
  assert.ok(examples.length >= 4, `${examples.length} examples`);
});

examples.forEach((code, i) => {
  test(`README example ${i + 1} runs`, () => {
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
    if (option.default) assert.ok(row!.includes(`\`${option.default}\``), `--${option.flag}: default ${option.default} missing`);
  }
});

test("the README's transition table is the machine's table, row for row", async () => {
  const { TRANSITIONS } = await import("../src/vrp/transitions.js");
  const { AUDIT_RULES } = await import("../src/vrp/audits.js");
  for (const t of TRANSITIONS) {
    const row = readme.split("\n").find((l) => l.startsWith("|") && l.includes(`\`${t.reason}\``) && l.includes(`| ${t.to} |`));
    assert.ok(row, `no README row for ${t.on} -> ${t.to} (${t.reason})`);
    assert.ok(row!.includes(`\`${t.on}\``), `${t.reason}: event ${t.on} missing`);
  }
  for (const rule of Object.keys(AUDIT_RULES)) {
    assert.ok(readme.includes(`| \`${rule}\` |`), `audit rule ${rule} not documented`);
  }
});

test.run();
