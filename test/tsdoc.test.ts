/**
 * Every name the package exports carries TSDoc, read with the TypeScript
 * compiler API from the entry files (as a user's editor sees them); a name a
 * README example imports carries an `@example` too.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { repoRoot } from "./support/repo.js";

const ENTRIES = ["src/index.ts", ...["client", "server", "archive", "log", "pb"].map((n) => `src/exports/${n}.ts`)];
// Generated code (session-events/pb) is documented by the .proto comments ts-proto copies, not here.
const GENERATED = "src/exports/pb.ts";
// src/client/emitter.ts is being rewritten under issue 17, which documents it.
const NOT_YET = new Set<string>([]);

interface Exported {
  readonly entry: string;
  readonly name: string;
  readonly documented: boolean;
  readonly hasExample: boolean;
}

function exportedNames(): Exported[] {
  const program = ts.createProgram(
    ENTRIES.map((e) => path.join(repoRoot, e)),
    {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      strict: true,
      noEmit: true,
    },
  );
  const checker = program.getTypeChecker();
  const out: Exported[] = [];
  for (const entry of ENTRIES) {
    const source = program.getSourceFile(path.join(repoRoot, entry))!;
    const moduleSymbol = checker.getSymbolAtLocation(source)!;
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const docs = ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim();
      const tags = symbol.getJsDocTags(checker);
      out.push({
        entry,
        name: exported.name,
        documented: docs.length > 0,
        hasExample: tags.some((t) => t.name === "example"),
      });
    }
  }
  return out;
}

/** The names README.md's ```js examples import, as "entry file: name". */
/** The names the js examples of README.md and docs/*.md import (readme.test.ts runs those examples). */
function readmeImports(): Set<string> {
  const docs = readdirSync(path.join(repoRoot, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => path.join("docs", f));
  const readme = ["README.md", ...docs].map((f) => readFileSync(path.join(repoRoot, f), "utf8")).join("\n");
  const names = new Set<string>();
  for (const block of readme.matchAll(/```js\n([\s\S]*?)```/g)) {
    for (const m of block[1]!.matchAll(/import \{([^}]*)\} from "session-events(?:\/(\w+))?"/g)) {
      const entry = m[2] ? `src/exports/${m[2]}.ts` : "src/index.ts";
      for (const name of m[1]!.split(",")) names.add(`${entry}: ${name.trim().split(/\s+as\s+/)[0]!}`);
    }
  }
  return names;
}

const all = exportedNames();

test("the entries export names (the check reads something)", () => {
  assert.ok(all.length > 80, `${all.length} names`);
});

test("every exported name has TSDoc", () => {
  const missing = all
    .filter((e) => e.entry !== GENERATED && !e.documented && !NOT_YET.has(e.name))
    .map((e) => `${e.entry}: ${e.name}`);
  assert.equal([...new Set(missing)], []);
});

test("every name a README example imports has an @example", () => {
  const wanted = readmeImports();
  assert.ok(wanted.size >= 10, [...wanted].join(", "));
  const missing = all
    .filter((e) => wanted.has(`${e.entry}: ${e.name}`) && !e.hasExample && !NOT_YET.has(e.name))
    .map((e) => `${e.entry}: ${e.name}`);
  assert.equal([...new Set(missing)], []);
});

test.run();
