// tsc writes new files 0644: after `rm -rf dist && tsc` the command that
// package.json's "bin" names would not run (npx: "Permission denied").
// Run after every build (npm's postbuild hook, and scripts/test.sh).
import { chmodSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { bin } = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
for (const file of Object.values(bin)) chmodSync(path.join(root, file), 0o755);
