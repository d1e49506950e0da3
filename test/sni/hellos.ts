/**
 * @module
 * ClientHellos for the SNI tests: real ones, captured at test time from curl, openssl s_client,
 * Bun's and Node's TLS clients connecting to a raw listener on 127.0.0.1 (which answers nothing,
 * so every client stops after its first flight), and synthetic ones built field by field for what
 * no local client sends (GREASE, ECH, duplicates, broken lengths).
 */
import tls from "node:tls";

export type Client = "curl" | "openssl" | "bun" | "node";

/** The bytes `client` sends first when it connects over TLS naming `serverName` (or dialing the IP, with none). */
export async function captureHello(client: Client, serverName: string | undefined): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const { promise: first, resolve } = Promise.withResolvers<void>();
  let settle: ReturnType<typeof setTimeout> | undefined;
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(_s, chunk) {
        chunks.push(chunk.slice());
        // Whatever else the first flight holds arrives within a moment; nothing more comes, as we answer nothing.
        clearTimeout(settle);
        settle = setTimeout(resolve, 150);
      },
    },
  });
  const port = listener.port;
  let stop = () => {};
  try {
    switch (client) {
      case "curl": {
        const url = serverName ? `https://${serverName}:${port}/` : `https://127.0.0.1:${port}/`;
        const args = serverName ? ["--resolve", `${serverName}:${port}:127.0.0.1`] : [];
        const p = Bun.spawn(["curl", "-sk", "--max-time", "5", "--noproxy", "*", ...args, url], { stdout: "ignore", stderr: "ignore", env: { PATH: process.env.PATH ?? "" } });
        stop = () => p.kill();
        break;
      }
      case "openssl": {
        const p = Bun.spawn(["openssl", "s_client", "-connect", `127.0.0.1:${port}`, ...(serverName ? ["-servername", serverName] : ["-noservername"])], { stdin: "pipe", stdout: "ignore", stderr: "ignore" });
        stop = () => p.kill();
        break;
      }
      case "bun": {
        const socket = Bun.connect({ hostname: "127.0.0.1", port, tls: serverName ? { serverName, rejectUnauthorized: false } : { rejectUnauthorized: false }, socket: { data() {}, error() {} } });
        stop = () => void socket.then((s) => s.terminate(), () => {});
        break;
      }
      case "node": {
        const socket = tls.connect({ host: "127.0.0.1", port, ...(serverName ? { servername: serverName } : {}), rejectUnauthorized: false });
        socket.on("error", () => {});
        stop = () => socket.destroy();
        break;
      }
    }
    const timeout = setTimeout(() => resolve(), 5000);
    await first;
    clearTimeout(timeout);
  } finally {
    stop();
    listener.stop(true);
  }
  if (chunks.length === 0) throw new Error(`${client} sent nothing`);
  return Buffer.concat(chunks);
}

// ---------------------------------------------------------------------------------------------
// Building hellos

const u16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const u24 = (n: number) => [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
const bytesOf = (s: string | Uint8Array | number[]) => (typeof s === "string" ? [...new TextEncoder().encode(s)] : [...s]);

/** An extension as type and data. */
export type Extension = readonly [type: number, data: number[]];

/** server_name's data: entries of (name type, name); one host_name by default. */
export function serverNameExtension(...entries: (string | Uint8Array | readonly [number, string | Uint8Array])[]): Extension {
  const list = entries.flatMap((e) => {
    const [type, name] = typeof e === "string" || e instanceof Uint8Array ? [0, e] : e;
    const b = bytesOf(name);
    return [type, ...u16(b.length), ...b];
  });
  return [0, [...u16(list.length), ...list]];
}

export interface HelloParts {
  readonly version?: number;
  readonly sessionId?: number[];
  readonly suites?: number[];
  readonly compression?: number[];
  /** undefined: no extensions block at all */
  readonly extensions?: readonly Extension[] | undefined;
  /** overrides the extensions block's length field */
  readonly extensionsLength?: number;
}

/** A ClientHello handshake message: its 4-byte header and body. */
export function helloMessage(parts: HelloParts): number[] {
  const suites = parts.suites ?? [0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f];
  const compression = parts.compression ?? [0];
  const sessionId = parts.sessionId ?? Array(32).fill(7);
  const body = [...u16(parts.version ?? 0x0303), ...Array(32).fill(0x42), sessionId.length, ...sessionId, ...u16(suites.length), ...suites, compression.length, ...compression];
  if (parts.extensions) {
    const block = parts.extensions.flatMap(([type, data]) => [...u16(type), ...u16(data.length), ...data]);
    body.push(...u16(parts.extensionsLength ?? block.length), ...block);
  }
  return [1, ...u24(body.length), ...body];
}

/** One handshake record around `message`. */
export const record = (message: number[] | Uint8Array, type = 22, version = 0x0301): Uint8Array => new Uint8Array([type, ...u16(version), ...u16(message.length), ...message]);

/** A ClientHello in one record. */
export const hello = (parts: HelloParts): Uint8Array => record(helloMessage(parts));

/** The handshake messages inside `records` (one or more records back to back), joined. */
export function handshakeOf(records: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let at = 0; at < records.length; ) {
    const length = (records[at + 3]! << 8) | records[at + 4]!;
    out.push(...records.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  return new Uint8Array(out);
}

/** The same handshake bytes in records of the given fragment sizes (the last one takes the rest). */
export function reframe(records: Uint8Array, sizes: readonly number[]): Uint8Array {
  const message = handshakeOf(records);
  const out: Uint8Array[] = [];
  let at = 0;
  for (const size of sizes) {
    if (at >= message.length) break;
    out.push(record(message.subarray(at, at + size)));
    at += size;
  }
  if (at < message.length) out.push(record(message.subarray(at)));
  return Buffer.concat(out);
}

/** In records of `size` bytes each. */
export const reframeEvery = (records: Uint8Array, size: number): Uint8Array => reframe(records, Array(Math.ceil(handshakeOf(records).length / size)).fill(size));
