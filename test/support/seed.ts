/** The seed specifications, as committed under docs/spec/ (copies of shared/seeds). */
import { readFileSync } from "node:fs";
import path from "node:path";
import { repoRoot } from "./repo.js";

export const SEED_DIR = path.join(repoRoot, "docs/spec");
export const SESSION_SEED = path.join(SEED_DIR, "oneiric-event-schema-reference.md");
export const VRP_SEED = path.join(SEED_DIR, "vrp-event-schema-v0.1.md");

/** Every ```json block of a markdown file. */
export function jsonBlocks(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** The seed's full schemas, by title (blocks that parse and carry a title + properties). */
export function seedSchemas(): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const block of jsonBlocks(SESSION_SEED)) {
    try {
      const doc = JSON.parse(block) as Record<string, unknown>;
      if (typeof doc.title === "string" && doc.properties) out[doc.title] = doc;
    } catch {
      // examples with "..." are not JSON: not schemas either
    }
  }
  return out;
}

/** The python dict / JSON-string examples the seed validates, as JSON objects. */
export function seedExamples(): Record<string, unknown> {
  const text = readFileSync(SESSION_SEED, "utf8");
  const start = /json_str = """\n([\s\S]*?)"""/.exec(text)![1]!;
  const endDict = /json_dict = (\{[\s\S]*?\n\})/.exec(text)![1]!;
  return { validStart: JSON.parse(start), endWithSecond67: JSON.parse(endDict) };
}
