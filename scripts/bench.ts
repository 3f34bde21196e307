/**
 * `npm run bench`: every benchmark of the project, in one run, printed as
 * markdown. `npm run bench -- --record` also writes the figures into
 * BENCHMARKS.md (between the bench markers), with the machine's details.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { benchContract, contractTables } from "./bench/contract.js";
import { machine } from "./bench/harness.js";

const record = process.argv.includes("--record");
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

console.log("Machine:\n" + machine() + "\n");
console.log("Contract bridge (events/s, medians of 41 interleaved rounds; cost = per-round baseline ÷ variant, median):\n");
const table = contractTables(benchContract());
console.log(table);

if (record) {
  const file = path.join(root, "BENCHMARKS.md");
  const section = `<!-- bench:contract:start -->\nMachine:\n\n${machine()}\n\n${table}\n<!-- bench:contract:end -->`;
  const text = readFileSync(file, "utf8");
  writeFileSync(file, text.replace(/<!-- bench:contract:start -->[\s\S]*<!-- bench:contract:end -->/, section));
  console.log(`\nrecorded in ${file}`);
}
