/**
 * Facts about the running process, for SessionStartEvent.create(), truncated
 * to the contract's limits (schema maxLength counts code points, so we do too).
 */
import os from "node:os";
import process from "node:process";
import type { EnvironmentInfoJson, UserInfoJson } from "../contract/types.js";

export const USERNAME_MAX = 100;
export const PATH_MAX = 500;

export function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : chars.slice(0, max).join("");
}

export function currentUser(): UserInfoJson {
  let username: string;
  try {
    username = os.userInfo().username;
  } catch {
    // No passwd entry (common in containers): fall back to the environment.
    username =
      process.env.USER ?? process.env.LOGNAME ?? process.env.USERNAME ?? `uid-${process.getuid?.() ?? "unknown"}`;
  }
  return { username: truncate(username, USERNAME_MAX), home: truncate(os.homedir(), PATH_MAX) };
}

/**
 * The seed's field is `python_version`, named for its Python emitters. A
 * Node.js emitter fills it with its own runtime, prefixed so that no consumer
 * can mistake it for a Python version: "node-20.20.2".
 */
export function runtimeVersion(): string {
  return `node-${process.versions.node}`;
}

/** Like Python's platform.platform(): "Linux-6.1.0-x86_64". */
export function platformId(): string {
  return `${os.type()}-${os.release()}-${os.machine()}`;
}

export function currentEnvironment(): EnvironmentInfoJson {
  return { python_version: runtimeVersion(), platform: platformId(), cwd: truncate(process.cwd(), PATH_MAX) };
}
