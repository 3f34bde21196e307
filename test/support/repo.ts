/** Paths and tools of this repository, for tests that run real programs. */
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Tests run from dist/test/...: the repository is two levels up from dist/test. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const bufBin = path.join(repoRoot, "node_modules/.bin/buf");
export const cliBin = path.join(repoRoot, "dist/src/cli/bin.js");

export function tempDir(prefix = "session-events-test-"): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

// --- descriptors -----------------------------------------------------------

export interface FieldDescriptor {
  name: string;
  number: number;
  label: "LABEL_OPTIONAL" | "LABEL_REPEATED" | "LABEL_REQUIRED";
  type: string;
  typeName?: string;
  jsonName: string;
  proto3Optional?: boolean;
  oneofIndex?: number;
}
export interface MessageDescriptor {
  name: string;
  field?: FieldDescriptor[];
  nestedType?: MessageDescriptor[];
  options?: { mapEntry?: boolean };
}
export interface FileDescriptor {
  name: string;
  package?: string;
  messageType?: MessageDescriptor[];
  sourceCodeInfo?: { location: { path?: number[]; leadingComments?: string }[] };
}

/** A message with its fully qualified name and the comment of each field. */
export interface ResolvedMessage {
  fullName: string;
  descriptor: MessageDescriptor;
  fieldComments: Map<string, string>;
}

let cached: Map<string, ResolvedMessage> | undefined;

/** Every message of proto/ (and the well-known types), by ".pkg.Name", built by buf. */
export function protoMessages(): Map<string, ResolvedMessage> {
  if (cached) return cached;
  const json = execFileSync(bufBin, ["build", "--as-file-descriptor-set", "-o", "-#format=json"], {
    cwd: repoRoot,
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  const files = (JSON.parse(json) as { file: FileDescriptor[] }).file;
  cached = new Map();
  for (const file of files) {
    const comments = new Map<string, string>();
    for (const loc of file.sourceCodeInfo?.location ?? []) {
      if (loc.leadingComments && loc.path?.length === 4 && loc.path[0] === 4 && loc.path[2] === 2) {
        comments.set(`${loc.path[1]}.${loc.path[3]}`, loc.leadingComments);
      }
    }
    const add = (msg: MessageDescriptor, prefix: string, topIndex: number | undefined) => {
      const fullName = `${prefix}.${msg.name}`;
      const fieldComments = new Map<string, string>();
      if (topIndex !== undefined) {
        (msg.field ?? []).forEach((f, i) => {
          const c = comments.get(`${topIndex}.${i}`);
          if (c) fieldComments.set(f.name, c);
        });
      }
      cached!.set(fullName, { fullName, descriptor: msg, fieldComments });
      for (const nested of msg.nestedType ?? []) add(nested, fullName, undefined);
    };
    for (const [i, m] of (file.messageType ?? []).entries()) add(m, `.${file.package}`, i);
  }
  return cached;
}

export function protoMessage(fullName: string): ResolvedMessage {
  const name = fullName.startsWith(".") ? fullName : `.${fullName}`;
  const found = protoMessages().get(name);
  if (!found) throw new Error(`no protobuf message ${name}`);
  return found;
}
