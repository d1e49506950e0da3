/**
 * @module
 * `sallyport check [serve flags] [FILE...]`: everything the proxy would refuse at start, without
 * starting it, every problem at once. The routes (the FILE arguments, `-routes-file`,
 * `-inline-routes`) are parsed and built together as the proxy loads them, each problem as
 * `file:line:col: message` in file and line order: read and syntax errors, routes that cannot be
 * built, ids defined more than once (within a file or across files). The flags are validated as
 * serve validates them, and the files they name are read as the start reads them: egress lists
 * and roles, the htpasswd file, `-credentials-paths`, the listeners' certificate and key. Exit 1 on any problem, so it fits CI and pre-commit.
 */
import type { Loc, RouteDef } from "../eskip/ast.ts";
import { EskipError, parse } from "../eskip/index.ts";
import { buildTable, describeDuplicate, lastDefinitions } from "../routing/build.ts";
import { builtinRegistries } from "../routing/registries.ts";
import { LimiterRegistry, type ClusterLimiterFactory } from "../ratelimit/registry.ts";
import { openSwarm } from "../ratelimit/swarm.ts";
import { NO_SECRETS } from "../secrets/index.ts";
import { systemClock } from "../util/clock.ts";
import { egressListsOptions, servingTlsOptions, swarmOptions, type Config } from "../config/index.ts";
import { EgressLists } from "../egress/lists.ts";
import { createLogger } from "../log/index.ts";
import { registerSecretPaths } from "../secrets/scan.ts";
import { ServingTls } from "../tls/serving.ts";
import { ForwardAuth } from "../tunnel/auth.ts";
import { errorCode, readTextFile } from "../util/read-file.ts";
import type { CheckRequest } from "./commands.ts";

export interface Output {
  write(text: string): void;
}

const stderr: Output = { write: (t) => process.stderr.write(t) };

/** One line of the report, with where it sorts. */
interface Report {
  readonly file: number;
  readonly line: number;
  readonly column: number;
  readonly text: string;
}

/** The `check` command: flag problems, route problems, then the other files' problems. */
export async function runCheckCommand(request: CheckRequest, out: Output = stderr): Promise<number> {
  const lines = [...request.issues];
  const config = request.config;
  const sources: RouteSource[] = [...request.files, ...(config?.routesFile ?? [])].map((file) => ({ name: file, read: () => readTextFile(file) }));
  if (config?.inlineRoutes) sources.push({ name: "-inline-routes", read: async () => config.inlineRoutes });
  lines.push(...(await routeProblems(sources, config?.enableSwarm ?? false)));
  if (config) lines.push(...(await fileProblems(config)));
  for (const line of lines) out.write(line + "\n");
  return lines.length > 0 ? 1 : 0;
}

/** `sallyport check FILE...` for route files alone. */
export async function runCheck(files: string[], out: Output = stderr): Promise<number> {
  return runCheckCommand({ files, config: undefined, issues: [] }, out);
}

/** Where routes come from: a file, or the -inline-routes text under that name. */
interface RouteSource {
  readonly name: string;
  read(): Promise<string>;
}

/** The files the start reads besides routes, read the same way: what each would stop the start with. */
async function fileProblems(config: Config): Promise<string[]> {
  // Nothing is started: without start() the lists and the htpasswd file are read once, never polled.
  const quiet = createLogger("error", { write() {} });
  const problems: string[] = [];
  const opening = (what: Promise<unknown>) => what.catch((e: Error) => void problems.push(e.message));
  await opening(EgressLists.open(egressListsOptions(config, { log: quiet })));
  if (config.forwardAuthFile) await opening(ForwardAuth.open({ file: config.forwardAuthFile, pollMs: config.sourcePollTimeout, log: quiet }));
  await opening(registerSecretPaths(config.credentialsPaths));
  const tls = servingTlsOptions(config, { log: quiet });
  if (tls) await opening(ServingTls.open(tls));
  // Reads the password and CA files; connects to nobody.
  await opening(openSwarm(swarmOptions(config), quiet, systemClock).then((swarm) => swarm?.swarm.close()));
  return problems;
}

/** With `-enable-swarm` cluster filters build; checking asks nothing of Redis. */
const CHECK_ONLY: ClusterLimiterFactory = (_scope, _max, _window, fallback) => fallback;

async function routeProblems(sources: readonly RouteSource[], swarm: boolean): Promise<string[]> {
  const files = sources.map((source) => source.name);
  const reports: Report[] = [];
  const fileOf = new Map<RouteDef, number>();
  const defs: RouteDef[] = [];
  for (const [index, source] of sources.entries()) {
    const file = source.name;
    const report = (text: string, line = 0, column = 0) => reports.push({ file: index, line, column, text });
    let text: string;
    try {
      text = await source.read();
    } catch (e) {
      report(`${file}: cannot read: ${errorCode(e)}`);
      continue;
    }
    try {
      for (const def of parse(text)) {
        fileOf.set(def, index);
        defs.push(def);
      }
    } catch (e) {
      if (!(e instanceof EskipError)) throw e;
      report(e.format(file), e.line, e.column);
    }
  }

  // A definition (or a call in it) without a location is reported at the top of its file.
  const placeOf = (def: RouteDef, loc: Loc = def.loc ?? { line: 1, column: 1 }) => ({ file: fileOf.get(def)!, line: loc.line, column: loc.column });
  const where = (place: ReturnType<typeof placeOf>) => `${files[place.file]}:${place.line}:${place.column}`;
  for (const duplicate of lastDefinitions(defs).duplicates) {
    reports.push({ ...placeOf(duplicate.def), text: describeDuplicate(duplicate, (def) => where(placeOf(def))) });
  }
  const ratelimits = new LimiterRegistry(systemClock, undefined, swarm ? CHECK_ONLY : undefined);
  for (const p of buildTable(defs, builtinRegistries({ secrets: NO_SECRETS, ratelimits })).problems) {
    const place = placeOf(p.def, p.loc);
    reports.push({ ...place, text: `${where(place)}: route ${p.id}: ${p.reason}: ${p.message}` });
  }

  // Array.prototype.sort is stable: equal places keep the order found.
  reports.sort((a, b) => a.file - b.file || a.line - b.line || a.column - b.column);
  return reports.map((r) => r.text);
}
