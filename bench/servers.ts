/**
 * @module
 * The servers under test, each generated into its own folder of the run's temp dir and started
 * as a foreground child on its own 127.0.0.1 port. Everything listens on loopback only.
 *
 * Fairness choices, the same for every proxy:
 * - one worker (nginx `worker_processes 1`, haproxy `nbthread 1`, squid `-N`, one sallyport
 *   process): the machine has 2 cores that wrk and the upstream also need, and per-worker
 *   numbers are what scales. Bun also runs fetch's HTTP client on a thread of its own.
 * - no access logs (sallyport has none), keep-alive to the client and to the upstream,
 *   no caching (squid would otherwise answer from its cache).
 */
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Child, freePort, spawnServer, waitReady } from "./procs.ts";

export const SMALL_PATH = "/small";
export const SMALL_BODY = "hello, world\n";
export const LARGE_PATH = "/1m";
export const LARGE_SIZE = 1 << 20;
/** for the CONNECT tunnel downloads: a sparse file (zeros, no disk), as fast to send as any other */
export const TUNNEL_PATH = "/1g";
export const TUNNEL_SIZE = 1 << 30;

export interface Target {
  readonly name: string;
  /** one line for the report: what runs and how it is configured */
  readonly setup: string;
  /** http://127.0.0.1:PORT whose paths are requested: the proxy's, or for a forward proxy the upstream's */
  readonly url: string;
  /** a forward proxy's http://127.0.0.1:PORT: requests go there in absolute form (`GET http://127.0.0.1:UP/path`), as from an http_proxy client */
  readonly proxy?: string;
  /** Host header to send, when the target routes by it */
  readonly host?: string;
  /** undefined for direct: nothing between wrk and the upstream */
  readonly child?: Child;
}

function dirFor(root: string, name: string): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  // nginx workers and squid drop root for nobody/proxy and must still write here.
  chmodSync(dir, 0o777);
  return dir;
}

/**
 * One GET with a fresh connection (a pooled one could belong to a server we already stopped).
 * Through a forward proxy, fetch sends the absolute-form request for the http: URL, as wrk does.
 */
export async function probe(target: Pick<Target, "url" | "host" | "proxy">, path: string): Promise<{ status: number; body: Uint8Array }> {
  const res = await fetch(target.url + path, {
    headers: target.host ? { host: target.host } : {},
    keepalive: false,
    // the target's forward proxy, never an HTTP_PROXY from the environment
    proxy: target.proxy ?? false,
    signal: AbortSignal.timeout(5000),
  } as RequestInit);
  return { status: res.status, body: new Uint8Array(await res.arrayBuffer()) };
}

async function start(name: string, cmd: string[], dir: string, target: Omit<Target, "child">, env?: Record<string, string>, readyMs?: number): Promise<Target> {
  const child = spawnServer(name, cmd, join(dir, "server.log"), env);
  await waitReady(child, async () => {
    const r = await probe(target, SMALL_PATH);
    return r.status === 200 && new TextDecoder().decode(r.body) === SMALL_BODY;
  }, readyMs);
  return { ...target, child };
}

/** nginx's compiled-in temp paths are under /var/lib/nginx; keep everything in our dir. */
function nginxCommon(dir: string): string {
  return ["body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `${t === "body" ? "client_body" : t}_temp_path ${dir}/tmp-${t};`).join("\n  ");
}

/** The start of every nginx.conf here: one worker in the foreground, files in `dir`, `http {` opened. */
function nginxHead(dir: string): string {
  return `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  ${nginxCommon(dir)}`;
}

/**
 * The upstream: nginx, one worker, a fixed small body from `return` (no disk) and a 1 MiB file
 * via sendfile. nginx rather than a Bun.serve so the upstream is neutral and as cheap as possible.
 * keepalive_requests is raised because nginx's default (1000) would close every client and proxy
 * connection after 1000 requests, which measures reconnects, not proxying.
 */
export async function startUpstream(root: string, nginx: string): Promise<Target & { port: number }> {
  const dir = dirFor(root, "upstream");
  const www = join(dir, "www");
  mkdirSync(www, { recursive: true });
  writeFileSync(join(www, LARGE_PATH.slice(1)), randomBytes(LARGE_SIZE));
  writeFileSync(join(www, TUNNEL_PATH.slice(1)), "");
  truncateSync(join(www, TUNNEL_PATH.slice(1)), TUNNEL_SIZE);
  const port = freePort();
  writeFileSync(join(dir, "nginx.conf"), `${nginxHead(dir)}
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    root ${www};
    location = ${SMALL_PATH} { default_type text/plain; return 200 "${SMALL_BODY.replace("\n", "\\n")}"; }
  }
}
`);
  const cmd = [nginx, "-p", dir, "-e", `${dir}/error.log`, "-c", `${dir}/nginx.conf`];
  const t = await start("upstream nginx", cmd, dir, { name: "upstream", setup: "", url: `http://127.0.0.1:${port}` });
  return { ...t, port };
}

export function direct(upstream: Target): Target {
  return { name: "direct", setup: "wrk → upstream nginx, no proxy", url: upstream.url };
}

export async function startSallyport(root: string, bin: string, upstreamPort: number): Promise<Target> {
  const dir = dirFor(root, "sallyport");
  const port = freePort();
  const route = `* -> "http://127.0.0.1:${upstreamPort}"`;
  const cmd = [bin, "-address", `127.0.0.1:${port}`, "-support-listener", "", "-inline-routes", route];
  return start("sallyport", cmd, dir, {
    name: "sallyport",
    setup: `\`dist/sallyport -address 127.0.0.1:${port} -support-listener "" -inline-routes '${route}'\``,
    url: `http://127.0.0.1:${port}`,
  });
}

/**
 * The forward port of a sallyport without routes: every request reaches the built-in fallback,
 * which forwards it to the destination the client asked for, under the egress policy.
 * `-egress-allow 127.0.0.1` opens the private-address guard for the loopback upstream, and
 * `-connect-ports` lets CONNECT tunnels reach its port (only 443 by default); -address (the
 * reverse-proxy port, unused here) gets a loopback port of its own rather than :9090.
 */
export async function startSallyportForward(root: string, bin: string, upstream: Target): Promise<Target> {
  const dir = dirFor(root, "sallyport-forward");
  const upstreamPort = new URL(upstream.url).port;
  const port = freePort();
  const forward = otherFreePort(port);
  const cmd = [bin, "-address", `127.0.0.1:${port}`, "-support-listener", "", "-forward-address", `127.0.0.1:${forward}`, "-egress-allow", "127.0.0.1", "-connect-ports", upstreamPort];
  return start("sallyport forward port", cmd, dir, {
    name: "sallyport forward port (http_proxy)",
    setup: `\`dist/sallyport -address 127.0.0.1:${port} -support-listener "" -forward-address 127.0.0.1:${forward} -egress-allow 127.0.0.1 -connect-ports ${upstreamPort}\`, no routes (the built-in fallback forwards to the requested destination); wrk sends ${absoluteForm(upstream)} to the forward port`,
    url: upstream.url,
    proxy: `http://127.0.0.1:${forward}`,
  });
}

/** The request line and Host header a forward proxy gets, for the setup texts. */
function absoluteForm(upstream: Target): string {
  return `\`GET ${upstream.url}/PATH HTTP/1.1\` with \`Host: ${new URL(upstream.url).host}\` (\`wrk -s bench/absolute-form.lua\`)`;
}

/** A free port other than `taken` (freePort releases its port at once, so two calls may agree). */
function otherFreePort(taken: number): number {
  for (;;) {
    const port = freePort();
    if (port !== taken) return port;
  }
}

/**
 * 10,000 Host routes, and the request names the last one: the host index should make it as cheap
 * as the single catch-all route. `dot` is how the routes escape the dots of the name: `[.]` (the
 * spelling of the README and of Skipper's docs) or `\.`. The readiness probe also checks that an
 * unknown host gets 404, so a table that matched everything would not pass unnoticed.
 */
export async function startSallyportManyRoutes(root: string, bin: string, upstreamPort: number, dot: "[.]" | "\\.", count = 10_000): Promise<Target> {
  const tag = dot === "[.]" ? "brackets" : "backslash";
  const dir = dirFor(root, `sallyport-routes-${tag}`);
  const file = join(dir, "routes.eskip");
  // In eskip's "…" strings a backslash is itself escaped.
  const eskipDot = dot.replaceAll("\\", "\\\\");
  const lines: string[] = [];
  for (let i = 0; i < count; i++) lines.push(`r${i}: Host("^h${i}${eskipDot}example${eskipDot}com$") -> "http://127.0.0.1:${upstreamPort}";`);
  writeFileSync(file, lines.join("\n") + "\n");
  const port = freePort();
  const host = `h${count - 1}.example.com`;
  const cmd = [bin, "-address", `127.0.0.1:${port}`, "-support-listener", "", "-routes-file", file];
  const t = await start(`sallyport (${count} routes, ${dot})`, cmd, dir, {
    name: `sallyport, ${count / 1000}k Host routes \`${dot}\``,
    setup: `\`dist/sallyport -address 127.0.0.1:${port} -support-listener "" -routes-file routes.eskip\`, ${count} lines \`${lines[0]!.replace(/^r0:/, "rN:").replace("h0", "hN")}\`, requests send \`Host: ${host}\` (the last route)`,
    url: `http://127.0.0.1:${port}`,
    host,
  }, undefined, 60_000);
  const miss = await probe({ url: t.url, host: "nope.example.com" }, SMALL_PATH);
  if (miss.status !== 404) throw new Error(`sallyport with ${count} routes answered ${miss.status} for an unknown host, expected 404`);
  return t;
}

/** bench/bun-baseline.ts under the bun running this script: the Bun.serve + fetch floor. */
export async function startBunBaseline(root: string, upstreamPort: number): Promise<Target> {
  const dir = dirFor(root, "bun-baseline");
  const port = freePort();
  const script = join(import.meta.dir, "bun-baseline.ts");
  // Same fetch concurrency cap as sallyport's main.ts sets for itself.
  return start("bun baseline", [process.execPath, script, String(port), `http://127.0.0.1:${upstreamPort}`], dir, {
    name: "Bun.serve+fetch floor",
    setup: "`bun bench/bun-baseline.ts`: Bun.serve whose handler only calls fetch with sallyport's fetch options and returns the response (no routing, headers or timers) — what any Bun proxy costs at least",
    url: `http://127.0.0.1:${port}`,
  }, { BUN_CONFIG_MAX_HTTP_REQUESTS: "16384" });
}

export async function startNginxProxy(root: string, nginx: string, upstreamPort: number): Promise<Target> {
  const dir = dirFor(root, "nginx-proxy");
  const port = freePort();
  // proxy_max_temp_file_size 0: stream through memory buffers like the others, never spool to disk.
  writeFileSync(join(dir, "nginx.conf"), `${nginxHead(dir)}
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  upstream up {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_max_temp_file_size 0;
    }
  }
}
`);
  const cmd = [nginx, "-p", dir, "-e", `${dir}/error.log`, "-c", `${dir}/nginx.conf`];
  return start("nginx proxy", cmd, dir, {
    name: "nginx",
    setup: "nginx reverse proxy: `proxy_pass` to an `upstream` block with `keepalive 64`, HTTP/1.1 upstream, 1 worker, no access log",
    url: `http://127.0.0.1:${port}`,
  });
}

export async function startHaproxy(root: string, haproxy: string, upstreamPort: number): Promise<Target> {
  const dir = dirFor(root, "haproxy");
  const port = freePort();
  // No `log` lines: no access log. Keep-alive both sides and server connection reuse are the defaults.
  writeFileSync(join(dir, "haproxy.cfg"), `global
  nbthread 1
  # haproxy raises its fd limit to about 2 × maxconn and refuses to start if it cannot
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  server up 127.0.0.1:${upstreamPort}
`);
  // -db: stay in the foreground.
  return start("haproxy", [haproxy, "-db", "-f", join(dir, "haproxy.cfg")], dir, {
    name: "haproxy",
    setup: "haproxy `mode http`, 1 thread (`nbthread 1`), default keep-alive and connection reuse, no logging",
    url: `http://127.0.0.1:${port}`,
  });
}

/**
 * squid as a reverse proxy (accelerator) with caching off. That is the same job the others do —
 * origin-form requests to one upstream — so it is the fair comparison for the reverse proxies; in
 * forward mode squid also parses absolute URLs and does its forward-proxy work, a different
 * workload, measured by startSquidForward against sallyport's forward port.
 */
export async function startSquid(root: string, squid: string, upstreamPort: number): Promise<Target> {
  const dir = dirFor(root, "squid");
  const port = freePort();
  writeSquidConf(dir, `http_port 127.0.0.1:${port} accel defaultsite=127.0.0.1:${upstreamPort} no-vhost
cache_peer 127.0.0.1 parent ${upstreamPort} 0 no-query no-digest originserver name=upstream`);
  return startSquidIn(squid, dir, {
    name: "squid",
    setup: "squid reverse proxy (`http_port … accel`, `cache_peer … originserver`), `cache deny all`, one process (`-N`), no access log",
    url: `http://127.0.0.1:${port}`,
  });
}

/**
 * squid as what it is built for, a forward proxy: a plain `http_port`, requests in absolute form
 * naming the upstream, and CONNECT tunnels. Otherwise configured as the reverse proxy above.
 */
export async function startSquidForward(root: string, squid: string, upstream: Target): Promise<Target> {
  const dir = dirFor(root, "squid-forward");
  const port = freePort();
  writeSquidConf(dir, `http_port 127.0.0.1:${port}`);
  return startSquidIn(squid, dir, {
    name: "squid forward proxy (http_proxy)",
    setup: `squid forward proxy (plain \`http_port 127.0.0.1:${port}\`, no accel, no cache_peer), \`http_access allow all\`, \`cache deny all\`, one process (\`-N\`), no access log, CONNECT to any port (no \`SSL_ports\` rule); wrk sends ${absoluteForm(upstream)}`,
    url: upstream.url,
    proxy: `http://127.0.0.1:${port}`,
  });
}

/** squid.conf: the listener lines, then what every squid here shares (no cache, no logs, files in `dir`). */
function writeSquidConf(dir: string, listen: string): void {
  writeFileSync(join(dir, "squid.conf"), `${listen}
http_access allow all
cache deny all
access_log none
cache_store_log none
cache_log ${dir}/cache.log
pid_filename ${dir}/squid.pid
coredump_dir ${dir}
netdb_filename none
pinger_enable off
logfile_rotate 0
shutdown_lifetime 1 seconds
max_filedescriptors 16384
`);
}

function startSquidIn(squid: string, dir: string, target: Omit<Target, "child">): Promise<Target> {
  // -N: no daemon and no worker kids; the foreground process serves.
  return start(target.name, [squid, "-N", "-f", join(dir, "squid.conf")], dir, target);
}
