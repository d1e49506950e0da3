/**
 * @module
 * The servers under test other than sallyport (bench/sallyports.ts), and the upstream they all
 * proxy to, each generated into its own folder of the run's temp dir and started as a foreground
 * child on its own 127.0.0.1 port. Everything listens on loopback only.
 *
 * Fairness choices, the same for every proxy:
 * - one worker (nginx `worker_processes 1`, haproxy `nbthread 1`, squid `-N`, sallyport
 *   `-workers 1`): the machine has 2 cores that wrk and the upstream also need, and per-worker
 *   numbers are what scales. Bun also runs fetch's HTTP client on a thread of its own. The
 *   routed scenario adds sallyport `-workers 2` (its default on 2 cores) beside nginx with 2.
 * - the routed path's work: every reverse proxy sets `Authorization: Bearer x` on the request,
 *   as the sallyport route does (the Bun floor does nothing but proxy: it is the floor).
 * - no access logs (sallyport's is off in the comparisons, `-access-log-disabled`; scenario 3
 *   measures what it costs), keep-alive to the client and to the upstream, no caching (squid
 *   would otherwise answer from its cache).
 */
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, truncateSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { type Child, freePort, spawnServer, waitReady } from "./procs.ts";

/** The 1 KiB body: plain letters and digits, so it sits in nginx's `return` string unescaped. */
export const SMALL_PATH = "/1k";
export const SMALL_BODY = "0123456789abcdef".repeat(64).slice(0, 1023) + "\n";
export const MEDIUM_PATH = "/64k";
export const MEDIUM_SIZE = 64 << 10;
/** the streamed transfers' file: sparse (zeros, no disk), as fast to send as any other; its size is the mode's */
export const BIG_PATH = "/big";
/** the Host every routed request carries: the sallyport route matches it, the others ignore it */
export const ROUTED_HOST = "bench";
/** what every reverse proxy sets on the routed path */
export const AUTH_VALUE = "Bearer x";

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
  /** undefined for direct: nothing between the client and the upstream */
  readonly child?: Child;
  /** what to check after each measurement besides the body (e.g. that /metrics counted it) */
  readonly check?: () => Promise<string[]>;
}

export function dirFor(root: string, name: string): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  // nginx workers, squid and tinyproxy drop root for nobody/proxy and must still write here.
  chmodSync(dir, 0o777);
  return dir;
}

/**
 * One GET with a fresh connection (a pooled one could belong to a server we already stopped).
 * Through a forward proxy, fetch sends the absolute-form request for the http: URL, as wrk does.
 */
export async function probe(target: Pick<Target, "url" | "host" | "proxy">, path: string, timeoutMs = 5000): Promise<{ status: number; headers: Headers; body: Uint8Array }> {
  const res = await fetch(target.url + path, {
    headers: target.host ? { host: target.host } : {},
    keepalive: false,
    // the target's forward proxy, never an HTTP_PROXY from the environment
    proxy: target.proxy ?? false,
    signal: AbortSignal.timeout(timeoutMs),
  } as RequestInit);
  return { status: res.status, headers: res.headers, body: new Uint8Array(await res.arrayBuffer()) };
}

/**
 * Whether `target` closes the connection after a whole response to one GET of `path` (with
 * `Connection: close` if `close`) without saying `Connection: close` in that response: one raw
 * request, the response read to its Content-Length, then up to 2 s for the server's EOF. A server
 * that keeps the connection open, or announces the close, answers false.
 */
export function closesUnannounced(target: Pick<Target, "url" | "host" | "proxy">, path: string, close: boolean): Promise<boolean> {
  const via = new URL(target.proxy ?? target.url);
  const url = new URL(target.url + path);
  const head = `GET ${target.proxy ? url.href : url.pathname} HTTP/1.1\r\nHost: ${target.host ?? url.host}\r\n${close ? "Connection: close\r\n" : ""}\r\n`;
  return new Promise((resolve) => {
    const socket = connect(Number(via.port), via.hostname);
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (v: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => finish(false), 2000);
    socket.on("connect", () => socket.write(head));
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("error", () => finish(false));
    socket.on("end", () => {
      const all = Buffer.concat(chunks);
      const end = all.indexOf("\r\n\r\n");
      if (end < 0) return finish(false);
      const headers = all.subarray(0, end).toString("latin1");
      const length = Number(/^content-length:\s*(\d+)/im.exec(headers)?.[1] ?? NaN);
      finish(all.length - end - 4 === length && !/^connection:[^\r\n]*\bclose\b/im.test(headers));
    });
  });
}

/** Whether the 1 KiB body comes back intact through `target`. */
export async function smallOk(target: Pick<Target, "url" | "host" | "proxy">): Promise<boolean> {
  const r = await probe(target, SMALL_PATH);
  return r.status === 200 && new TextDecoder().decode(r.body) === SMALL_BODY;
}

export interface StartOptions {
  readonly env?: Record<string, string>;
  readonly readyMs?: number;
  /** readiness; default: the 1 KiB body through the target */
  readonly ready?: (t: Omit<Target, "child">) => Promise<boolean>;
}

export async function start(name: string, cmd: string[], dir: string, target: Omit<Target, "child">, opts: StartOptions = {}): Promise<Target> {
  const child = spawnServer(name, cmd, join(dir, "server.log"), opts.env);
  await waitReady(child, () => (opts.ready ?? smallOk)(target), opts.readyMs);
  return { ...target, child };
}

/** nginx's compiled-in temp paths are under /var/lib/nginx; keep everything in our dir. */
function nginxCommon(dir: string): string {
  return ["body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `${t === "body" ? "client_body" : t}_temp_path ${dir}/tmp-${t};`).join("\n  ");
}

/** The start of every nginx.conf here: `workers` worker processes (one unless said) in the foreground, files in `dir`, `http {` opened. */
function nginxHead(dir: string, workers = 1): string {
  return `worker_processes ${workers};
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  ${nginxCommon(dir)}`;
}

export interface Upstream extends Target {
  readonly port: number;
  readonly dir: string;
  /** the 64 KiB file's bytes, to check bodies against */
  readonly medium: Uint8Array;
}

/** What a caller adds to the upstream's nginx.conf: `http` at the http level, `server` in its server block. */
export interface UpstreamExtras {
  readonly http?: string;
  readonly server?: string;
}

/** SMALL_BODY as an nginx `return` string. */
export const SMALL_BODY_NGINX = `"${SMALL_BODY.replace("\n", "\\n")}"`;

/**
 * The upstream: nginx, one worker, the 1 KiB body from `return` (no disk), a 64 KiB file of
 * random bytes and the sparse big file via sendfile. nginx rather than a Bun.serve so the
 * upstream is neutral and as cheap as possible. keepalive_requests is raised because nginx's
 * default (1000) would close every client and proxy connection after 1000 requests, which
 * measures reconnects, not proxying. `extras` adds locations (the soak's failing and slow ones).
 */
export async function startUpstream(root: string, nginx: string, bigBytes: number, extras: UpstreamExtras = {}): Promise<Upstream> {
  const dir = dirFor(root, "upstream");
  const www = join(dir, "www");
  mkdirSync(www, { recursive: true });
  const medium = randomBytes(MEDIUM_SIZE);
  writeFileSync(join(www, MEDIUM_PATH.slice(1)), medium);
  writeFileSync(join(www, BIG_PATH.slice(1)), "");
  truncateSync(join(www, BIG_PATH.slice(1)), bigBytes);
  const port = freePort();
  writeFileSync(join(dir, "nginx.conf"), `${nginxHead(dir)}
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  default_type application/octet-stream;
${extras.http ?? ""}
  server {
    listen 127.0.0.1:${port};
    root ${www};
    location = ${SMALL_PATH} { default_type text/plain; return 200 ${SMALL_BODY_NGINX}; }
${extras.server ?? ""}
  }
}
`);
  const cmd = [nginx, "-p", dir, "-e", `${dir}/error.log`, "-c", `${dir}/nginx.conf`];
  const t = await start("upstream nginx", cmd, dir, { name: "upstream", setup: "", url: `http://127.0.0.1:${port}` });
  return { ...t, port, dir, medium };
}

export function direct(upstream: Target, host?: string): Target {
  return { name: "direct", setup: "the client → upstream, no proxy", url: upstream.url, host };
}

/**
 * The upload sink (bench/sink.ts): reads each body to the end and answers with its byte count.
 * See that file for why it is not nginx.
 */
export async function startSink(root: string): Promise<Target & { port: number }> {
  const dir = dirFor(root, "sink");
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const t = await start("upload sink", [process.execPath, join(import.meta.dir, "sink.ts"), String(port)], dir, { name: "upload sink", setup: "", url }, {
    ready: async () => (await probe({ url }, "/sink")).status === 200,
  });
  return { ...t, port };
}

/** bench/bun-baseline.ts under the bun running this script, proxying to `upstreamUrl`: the Bun.serve + fetch floor. */
export async function startBunBaseline(root: string, upstreamUrl: string, tag = ""): Promise<Target> {
  const dir = dirFor(root, `bun-baseline${tag}`);
  const port = freePort();
  const script = join(import.meta.dir, "bun-baseline.ts");
  const target = {
    name: "Bun.serve+fetch floor",
    setup: "`bun bench/bun-baseline.ts`: Bun.serve whose handler only calls fetch with sallyport's fetch options and returns the response (no routing, headers or timers) — what any Bun proxy costs at least",
    url: `http://127.0.0.1:${port}`,
    host: ROUTED_HOST,
  };
  // The fetch concurrency cap raised, as sallyport's deploy files raise it for requests with a body.
  const env = { BUN_CONFIG_MAX_HTTP_REQUESTS: "16384" };
  // The upload floor proxies to the sink, which has no /1k: ready once it answers at all.
  const ready = tag ? async () => (await probe(target, "/sink")).status === 200 : undefined;
  return start("bun baseline", [process.execPath, script, String(port), upstreamUrl], dir, target, { env, ready });
}

export async function startNginxProxy(root: string, nginx: string, upstreamPort: number, workers = 1): Promise<Target> {
  const dir = dirFor(root, workers === 1 ? "nginx-proxy" : `nginx-proxy-${workers}`);
  const port = freePort();
  // proxy_max_temp_file_size 0: stream through memory buffers like the others, never spool to disk.
  // keepalive 512: idle upstream connections kept, above the most client connections of any shape.
  writeFileSync(join(dir, "nginx.conf"), `${nginxHead(dir, workers)}
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  upstream up {
    server 127.0.0.1:${upstreamPort};
    keepalive 512;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "${AUTH_VALUE}";
      proxy_max_temp_file_size 0;
    }
  }
}
`);
  const cmd = [nginx, "-p", dir, "-e", `${dir}/error.log`, "-c", `${dir}/nginx.conf`];
  return start("nginx proxy", cmd, dir, {
    name: workers === 1 ? "nginx" : `nginx ${workers} workers`,
    setup: `nginx reverse proxy: \`proxy_pass\` to an \`upstream\` block with \`keepalive 512\`, HTTP/1.1 upstream, \`proxy_set_header Authorization "${AUTH_VALUE}"\`, ${workers === 1 ? "1 worker" : `${workers} workers`}, no access log`,
    url: `http://127.0.0.1:${port}`,
    host: ROUTED_HOST,
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
  http-request set-header Authorization "${AUTH_VALUE}"
  server up 127.0.0.1:${upstreamPort}
`);
  // -db: stay in the foreground.
  return start("haproxy", [haproxy, "-db", "-f", join(dir, "haproxy.cfg")], dir, {
    name: "haproxy",
    setup: `haproxy \`mode http\`, 1 thread (\`nbthread 1\`), default keep-alive and connection reuse, \`http-request set-header Authorization "${AUTH_VALUE}"\`, no logging`,
    url: `http://127.0.0.1:${port}`,
    host: ROUTED_HOST,
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
cache_peer 127.0.0.1 parent ${upstreamPort} 0 no-query no-digest no-netdb-exchange originserver name=upstream
request_header_access Authorization deny all
request_header_add Authorization "${AUTH_VALUE}"`);
  return startSquidIn(squid, dir, {
    name: "squid",
    setup: `squid reverse proxy (\`http_port … accel\`, \`cache_peer … originserver\`), \`cache deny all\`, the client's Authorization replaced by \`${AUTH_VALUE}\` (\`request_header_access\` + \`request_header_add\`), one process (\`-N\`), no access log`,
    url: `http://127.0.0.1:${port}`,
    host: ROUTED_HOST,
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
    name: "squid forward proxy",
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

/**
 * tinyproxy, the small C forward proxy: `-d` keeps it in the foreground; no ConnectPort lines, so
 * CONNECT may reach any port; no Via header, like the others; it drops root for nobody when run
 * as root. `LogLevel Critical`: at Error it logs every client that hangs up before sending a
 * request, which wrk does with its spare connections at the end of each run; its failures to
 * reach the upstream still reach wrk as 5xx. It closes each client connection after one response.
 */
export async function startTinyproxy(root: string, tinyproxy: string, upstream: Target): Promise<Target> {
  const dir = dirFor(root, "tinyproxy");
  const port = freePort();
  const asRoot = process.getuid?.() === 0 ? "User nobody\nGroup nogroup\n" : "";
  writeFileSync(join(dir, "tinyproxy.conf"), `${asRoot}Port ${port}
Listen 127.0.0.1
Timeout 600
MaxClients 1024
Allow 127.0.0.1
DisableViaHeader Yes
LogFile "${dir}/tinyproxy.log"
LogLevel Critical
PidFile "${dir}/tinyproxy.pid"
`);
  return start("tinyproxy", [tinyproxy, "-d", "-c", join(dir, "tinyproxy.conf")], dir, {
    name: "tinyproxy",
    setup: `tinyproxy (\`-d\`, \`Listen 127.0.0.1\`, \`MaxClients 1024\`, \`DisableViaHeader Yes\`, \`LogLevel Critical\`, no ConnectPort rule: CONNECT to any port); wrk sends ${absoluteForm(upstream)}`,
    url: upstream.url,
    proxy: `http://127.0.0.1:${port}`,
  });
}

/** Whether a Redis server answers PING on 127.0.0.1:`port` (RESP inline command, one raw connection). */
export function redisPing(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let got = "";
    const finish = (v: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (d: Buffer) => {
      got += d.toString("latin1");
      if (got.includes("\r\n")) finish(got.startsWith("+PONG"));
    });
    socket.on("error", () => finish(false));
    socket.on("close", () => finish(false));
  });
}

/**
 * redis-server for the cluster rate limit (scenario 3b): in the foreground, on a free loopback
 * port, nothing persisted (`--save '' --appendonly no`), its log to stdout (the server.log), no
 * protected mode (it listens on 127.0.0.1 only). Not a contender but a server the cluster
 * contender needs, so the scenario adds it to the shared servers: its logged errors count against
 * the measurements and its CPU is not "other".
 */
export async function startRedis(root: string, redis: string): Promise<Target & { port: number; address: string }> {
  const dir = dirFor(root, "redis");
  const port = freePort();
  const cmd = [redis, "--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no", "--dir", dir, "--logfile", ""];
  const t = await start("redis-server", cmd, dir, {
    name: "redis-server",
    setup: `\`redis-server --bind 127.0.0.1 --port PORT --save '' --appendonly no --daemonize no --protected-mode no\` (Debian's package, defaults otherwise)`,
    url: `redis://127.0.0.1:${port}`,
  }, { ready: () => redisPing(port) });
  return { ...t, port, address: `127.0.0.1:${port}` };
}

/** The request line and Host header a forward proxy gets, for the setup texts. */
export function absoluteForm(upstream: Pick<Target, "url">): string {
  return `\`GET ${upstream.url}/PATH HTTP/1.1\` with \`Host: ${new URL(upstream.url).host}\` (\`wrk -s bench/absolute-form.lua\`)`;
}
