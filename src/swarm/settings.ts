/**
 * @module
 * `-swarm-redis-urls` entries: Skipper's `HOST:PORT`, or `redis://` and `rediss://` (TLS) URLs
 * with an optional user and database. A password in a URL is refused: it would show in `ps` and
 * in every log line that names the shard; it comes from `-swarm-redis-password FILE` instead.
 */
import { parseHostPort } from "../net/host-port.ts";

export interface ShardSettings {
  /** `host:port`, as logs and metric labels name the shard */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  /** the ACL user, when the URL names one */
  readonly username: string | undefined;
  /** the database number from the URL path */
  readonly db: number;
}

const DEFAULT_PORT = "6379";

/** Parses one entry; `{ error }` says what is wrong with it. */
export function parseShard(entry: string): { value: ShardSettings } | { error: string } {
  const scheme = /^(rediss?):\/\//i.exec(entry)?.[1]?.toLowerCase();
  if (!scheme) return fromAuthority(entry, false, undefined, 0);
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    return { error: "not HOST:PORT, redis://HOST:PORT or rediss://HOST:PORT" };
  }
  if (url.password !== "") return { error: "a password in the URL would show in ps and in logs; give it in a file with -swarm-redis-password" };
  if (url.search !== "" || url.hash !== "") return { error: "a Redis URL takes no query or fragment" };
  const path = url.pathname.replace(/^\//, "");
  if (path !== "" && !/^\d{1,2}$/.test(path)) return { error: `the database must be a number, got ${JSON.stringify(path)}` };
  return fromAuthority(url.host, scheme === "rediss", url.username === "" ? undefined : decodeURIComponent(url.username), Number(path));
}

function fromAuthority(authority: string, tls: boolean, username: string | undefined, db: number): { value: ShardSettings } | { error: string } {
  const hostPort = parseHostPort(authority, DEFAULT_PORT);
  if (typeof hostPort === "string") return { error: hostPort };
  const { host, port } = hostPort;
  const address = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  return { value: { address, host, port, tls, username, db } };
}
