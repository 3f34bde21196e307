/**
 * The layering of src/, as data: each folder imports only from its own folder
 * and from layers below it (peers in one layer do not import each other), and
 * no module imports itself round a cycle. Imports are read with the
 * TypeScript compiler's own pre-processor, type-only imports included.
 */
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import ts from "typescript";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { repoRoot } from "./support/repo.js";

/** Top to bottom. A unit is a folder of src/ (or a top-level file of src/ by its name); gen/ is below everything. */
const LAYERS: readonly (readonly string[])[] = [
  ["index", "exports"], // the package's entry files
  ["cli"],
  ["server"],
  ["metrics"], // Prometheus counters the server feeds
  ["collector", "archive", "client"], // the domain: peers, none imports another (the VRP hub is in collector/)
  ["state"], // derived state (LMDB), applied from the log
  ["vrp"], // the VRP rules: state machine, audits, dialects
  ["session"],
  ["bridge"],
  ["contract"],
  ["store"],
  ["descriptors"],
  ["errors"],
  ["gen"],
];

const rank = new Map(LAYERS.flatMap((units, i) => units.map((u) => [u, i] as const)));
const src = path.join(repoRoot, "src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(full) : e.name.endsWith(".ts") ? [full] : [];
  });
}

/** src/a/b.ts -> "a"; src/errors.ts -> "errors"; gen/... -> "gen". */
function unitOf(file: string): string {
  const relative = path.relative(repoRoot, file).split(path.sep);
  if (relative[0] === "gen") return "gen";
  return relative.length === 2 ? relative[1]!.replace(/\.ts$/, "") : relative[1]!;
}

/** Each file's relative imports, resolved to .ts files. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(src)) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
    const targets = importedFiles
      .map((i) => i.fileName)
      .filter((name) => name.startsWith("."))
      .map((name) => path.resolve(path.dirname(file), name).replace(/\.js$/, ".ts"));
    graph.set(file, targets);
  }
  return graph;
}

/** The edges that break the layering, as "from.ts -> to.ts (unit -> unit)". */
export function layeringViolations(graph: Map<string, string[]>): string[] {
  const problems: string[] = [];
  for (const [from, targets] of graph) {
    const a = unitOf(from);
    for (const to of targets) {
      const b = unitOf(to);
      if (a === b) continue;
      const ra = rank.get(a);
      const rb = rank.get(b);
      const where = `${path.relative(repoRoot, from)} -> ${path.relative(repoRoot, to)} (${a} -> ${b})`;
      if (ra === undefined || rb === undefined) problems.push(`${where}: a unit missing from LAYERS`);
      else if (rb <= ra) problems.push(`${where}: ${rb === ra ? "peers" : "an import upward"}`);
    }
  }
  return problems;
}

/** Every cycle's files, found by depth-first search. */
export function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === "open")
        found.push(stack.slice(stack.indexOf(next)).map((f) => path.relative(repoRoot, f)));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return found;
}

test("every folder of src/ has a layer", () => {
  const units = new Set([...importGraph().keys()].map(unitOf));
  assert.equal(
    [...units].filter((u) => !rank.has(u)),
    [],
  );
});

test("no import upward and none between peers of a layer", () => {
  assert.equal(layeringViolations(importGraph()), []);
});

test("no import cycle between modules", () => {
  assert.equal(cycles(importGraph()), []);
});

test("the checks can fail: an upward edge and a cycle are caught", () => {
  const f = (p: string) => path.join(repoRoot, p);
  const graph = new Map([
    [f("src/contract/a.ts"), [f("src/server/b.ts")]],
    [f("src/server/b.ts"), [f("src/contract/a.ts")]],
  ]);
  assert.equal(layeringViolations(graph), [
    "src/contract/a.ts -> src/server/b.ts (contract -> server): an import upward",
  ]);
  assert.equal(cycles(graph), [["src/contract/a.ts", "src/server/b.ts"]]);
});

test.run();
