/**
 * @module
 * What the deploy/ tests share: paths, the validators installed apart from the project's
 * dependencies (.ci/deploy-tools, `npm ci --prefix .ci/deploy-tools`, which .ci/run does),
 * systemd's unit and command-line syntax, and free loopback ports.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../support/binary.ts";

export { ROOT };
export const DEPLOY = join(ROOT, "deploy");
export const TOOLS = join(ROOT, ".ci/deploy-tools/node_modules");

/** Whether the npm validators are there; under CI they must be, so a test never skips there for want of them. */
export const toolsInstalled = existsSync(join(TOOLS, "kubernetes-models")) && existsSync(join(TOOLS, "dockerfile-utils"));
export const TOOLS_MISSING = "validators not installed: run npm ci --prefix .ci/deploy-tools";
export const skipWithoutTools = !toolsInstalled && !process.env.CI;

/** A command on PATH, or undefined. */
export const which = (name: string): string | undefined => Bun.which(name) ?? undefined;

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export async function run(argv: string[], options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Run> {
  const proc = Bun.spawn(argv, {
    cwd: options.cwd ?? ROOT,
    env: options.env ?? { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp" },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: options.timeoutMs ?? 60_000,
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** A loopback port free at the time of asking (the listener is closed again at once). */
export function freePort(): number {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

// ---- systemd unit files (systemd.syntax(7)) --------------------------------------------------

/** Section → key → values in file order (a key may repeat, as ExecStartPost= or SystemCallFilter= do). */
export type Unit = Map<string, Map<string, string[]>>;

export function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    // A trailing backslash continues the line; comment lines within the continuation are skipped.
    while (line.endsWith("\\") && i + 1 < lines.length) {
      let next = lines[++i]!.trim();
      while ((next.startsWith("#") || next.startsWith(";")) && i + 1 < lines.length) next = lines[++i]!.trim();
      line = `${line.slice(0, -1)} ${next}`;
    }
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = new Map();
      unit.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf("=");
    if (section === undefined || eq < 0) throw new Error(`not a unit file line: ${line}`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    section.set(key, [...(section.get(key) ?? []), value]);
  }
  return unit;
}

/** The last value of a key (what systemd uses for single-valued settings), or undefined. */
export function setting(unit: Unit, section: string, key: string): string | undefined {
  return unit.get(section)?.get(key)?.at(-1);
}

/**
 * A command line as systemd splits it (systemd.service(5), "Command lines"): words at blanks,
 * single and double quotes, backslash escapes; `${VAR}` inside a word is replaced by the value,
 * and `$VAR` as a word of its own becomes the value's blank-separated words (none when empty).
 * The prefixes `-`, `@`, `+`, `!` are not used by the units here and are refused.
 */
export function splitCommand(line: string, env: Record<string, string>): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i]!)) i++;
    if (i >= line.length) break;
    let word = "";
    let quoted = false;
    while (i < line.length && !/\s/.test(line[i]!)) {
      const c = line[i]!;
      if (c === "'" || c === '"') {
        quoted = true;
        const end = line.indexOf(c, i + 1);
        if (end < 0) throw new Error(`unterminated quote in: ${line}`);
        word += line.slice(i + 1, end).replace(/\\(.)/g, "$1");
        i = end + 1;
      } else if (c === "\\" && i + 1 < line.length) {
        word += line[i + 1];
        i += 2;
      } else {
        word += c;
        i++;
      }
    }
    const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word);
    if (whole && !quoted) {
      words.push(...(env[whole[1]!] ?? "").split(/\s+/).filter((w) => w !== ""));
      continue;
    }
    words.push(word.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, a, b) => env[a ?? b] ?? ""));
  }
  if (words.length > 0 && /^[-@+!]/.test(words[0]!)) throw new Error(`command prefixes are not handled here: ${words[0]}`);
  return words;
}

/** An EnvironmentFile= (systemd.exec(5)): KEY=VALUE lines, # and ; comments, optional quotes. */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const eq = line.indexOf("=");
    if (eq < 0) throw new Error(`not an environment file line: ${line}`);
    let value = line.slice(eq + 1).trim();
    if (/^(["']).*\1$/.test(value)) value = value.slice(1, -1);
    env[line.slice(0, eq).trim()] = value;
  }
  return env;
}

// ---- flags -----------------------------------------------------------------------------------

/** The value of `-name=value` / `--name=value` in argv (the last one given), or undefined. */
export function flagValue(argv: readonly string[], name: string): string | undefined {
  let value: string | undefined;
  for (const arg of argv) {
    const m = /^--?([^=]+)=(.*)$/.exec(arg);
    if (m && m[1] === name) value = m[2];
  }
  return value;
}

/** argv with `-name=…` replaced by `-name=value` (the form every file here writes). */
export function withFlag(argv: readonly string[], name: string, value: string): string[] {
  return argv.map((arg) => (new RegExp(`^--?${name.replace(/[-]/g, "\\-")}=`).test(arg) ? `-${name}=${value}` : arg));
}

/** Go durations as the flags take them (`15s`, `1m30s`, `300ms`, `0`), in milliseconds. */
export function durationMs(text: string): number {
  if (text === "0") return 0;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = text;
  while (rest !== "") {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest);
    if (!m) throw new Error(`not a duration: ${text}`);
    total += Number(m[1]) * units[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}

/** systemd time spans (`45`, `45s`, `1min 30s`), in milliseconds. */
export function timespanMs(text: string): number {
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const units: Record<string, number> = { ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000 };
  let total = 0;
  for (const part of text.split(/\s+/)) {
    const m = /^(\d+)(ms|sec|s|min|m|h)$/.exec(part);
    if (!m) throw new Error(`not a time span: ${text}`);
    total += Number(m[1]) * units[m[2]!]!;
  }
  return total;
}

// ---- YAML ------------------------------------------------------------------------------------

/** Every document of a YAML file (Bun's YAML 1.2 parser); a single document comes back as a list of one. */
export async function yamlDocuments(path: string): Promise<Record<string, any>[]> {
  const parsed = Bun.YAML.parse(await Bun.file(path).text());
  const docs = (Array.isArray(parsed) && /^---\s*$/m.test(await Bun.file(path).text()) ? parsed : [parsed]) as unknown[];
  return docs.filter((d): d is Record<string, any> => d !== null && typeof d === "object");
}
