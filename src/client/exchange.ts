/**
 * @module
 * One request and its response on a backend connection ({@link Exchange}), and the call a caller
 * holds ({@link Call}): the request written, the head parsed strictly, the body handed on as it
 * arrives (gathered whole when small), the connection given back to its pool when both sides
 * allow it. The pool is ./client.ts.
 */
import type { Socket } from "bun";
import type { WatchedStream } from "../util/stream.ts";
import { BodyStream, type BodySource } from "./body-stream.ts";
import { ChunkedDecoder } from "./chunked.ts";
import { Connection, HANDLERS, type ConnectionPool, type ConnectionUser } from "./connection.ts";
import { ClientError, headEnd, MAX_HEAD_BYTES, parseResponseHead, type ResponseHead } from "./response-head.ts";

export interface ClientTls {
  readonly ca?: string[] | undefined;
  readonly rejectUnauthorized?: boolean | undefined;
}

export interface ClientRequest {
  /** where to connect: an IP (a checked address) or a name */
  readonly hostname: string;
  readonly port: number;
  /** TLS to the backend; `serverName` is SNI and the name the certificate is checked against */
  readonly tls?: { readonly serverName: string; readonly options: ClientTls | undefined } | undefined;
  readonly method: string;
  /** the request target in origin form: `/path?query` */
  readonly target: string;
  /** the header fields to send, Host among them */
  readonly headers: Headers;
  readonly body: ReadableStream<Uint8Array> | null;
}

/** A request under way. */
export interface ClientCall {
  /** resolves when the response head has arrived */
  readonly response: Promise<ClientResponse>;
  /** Ends the call with `reason`: the response promise, or once answered the body stream, fails with it; the socket is closed. */
  abort(reason: unknown): void;
}

export interface ClientResponse {
  readonly status: number;
  readonly headers: Headers;
  /** bytes when the whole body came with the head; a watched stream otherwise; null for none */
  readonly body: Uint8Array | WatchedStream | null;
}

/** What an exchange asks of the pool it came from. */
export interface ExchangePool extends ConnectionPool {
  /** sends `request` again for `call`, on another connection */
  send(call: Call, request: ClientRequest): void;
  /** takes back a connection whose exchange ended cleanly */
  release(connection: Connection): void;
}

/**
 * A Content-Length body up to this size is gathered whole and answered as bytes, as nginx's
 * default proxy buffers (8 × 8 KiB) hold one: one write to the client instead of a JS stream per
 * response, and the client keeps the Content-Length (Bun drops it from any streamed body). The
 * response is answered when its last byte arrives, so the response-header timeout covers it.
 */
const WHOLE_BODY_BYTES = 64 * 1024;

/** Methods whose requests carry a body: without one they say Content-Length: 0, as fetch does. */
const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);

const CRLF = Buffer.from("\r\n");
const LAST_CHUNK = Buffer.from("0\r\n\r\n");

/** A call's promise, and the exchange serving it (a second one when a pooled connection had gone). */
export class Call implements ClientCall {
  readonly response: Promise<ClientResponse>;
  resolve!: (response: ClientResponse) => void;
  reject!: (err: unknown) => void;
  exchange: Exchange | undefined;

  constructor() {
    this.response = new Promise<ClientResponse>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  abort(reason: unknown): void {
    this.exchange?.fail(reason);
  }
}

/** One request and its response on a connection. */
export class Exchange implements ConnectionUser, BodySource {
  #connection: Connection | undefined;
  /** head bytes so far */
  #pending: Uint8Array | undefined;
  #head: ResponseHead | undefined;
  #chunked: ChunkedDecoder | undefined;
  /** body bytes still to come, for a Content-Length body */
  #left = 0;
  #body: BodyStream | undefined;
  /** a small Content-Length body gathered whole ({@link WHOLE_BODY_BYTES}), and how much of it is here */
  #whole: Uint8Array | undefined;
  #filled = 0;
  /** any byte of the response arrived */
  #heard = false;
  /** the request body has been sent whole */
  #sent = false;
  #over = false;
  /** no stray bytes after the response: the connection may serve another request */
  #reusable = true;

  constructor(
    readonly request: ClientRequest,
    readonly client: ExchangePool,
    readonly call: Call,
    readonly key: string,
    readonly reused: boolean,
  ) {}

  dial(): void {
    const connection = new Connection(this.key, this.client);
    this.#connection = connection;
    connection.exchange = this;
    const { tls } = this.request;
    connection.verify = tls?.options?.rejectUnauthorized !== false;
    let connecting: Promise<Socket<Connection>>;
    try {
      connecting = Bun.connect<Connection>({
        hostname: this.request.hostname,
        port: this.request.port,
        data: connection,
        socket: HANDLERS,
        ...(tls ? { tls: { ...tls.options, serverName: tls.serverName } } : {}),
      });
    } catch (err) {
      // A port out of range, say: thrown at once, not as a rejection.
      return this.fail(err);
    }
    connecting.then(
      (socket) => {
        connection.socket = socket;
        if (this.#over) return void socket.terminate();
        this.#send(connection);
      },
      (err: unknown) => this.fail(err),
    );
  }

  start(connection: Connection): void {
    this.#connection = connection;
    connection.exchange = this;
    this.#send(connection);
  }

  #send(connection: Connection): void {
    const { method, target, headers, body } = this.request;
    let head = `${method} ${target} HTTP/1.1\r\n`;
    for (const [name, value] of headers) head += `${name}: ${value}\r\n`;
    const chunked = body !== null && !headers.has("content-length");
    if (chunked) head += "transfer-encoding: chunked\r\n";
    else if (body === null && BODY_METHODS.has(method) && !headers.has("content-length")) head += "content-length: 0\r\n";
    const written = connection.write(Buffer.from(head + "\r\n", "latin1"));
    if (body === null) {
      this.#sent = true;
      return;
    }
    void this.#pump(connection, body, chunked, written);
  }

  /** Streams the request body, waiting for each write to drain before reading on. */
  async #pump(connection: Connection, body: ReadableStream<Uint8Array>, chunked: boolean, written: Promise<void> | undefined): Promise<void> {
    const reader = body.getReader();
    try {
      await written;
      for (;;) {
        if (this.#over) return void reader.cancel().catch(() => {});
        const { done, value } = await reader.read();
        if (this.#over) return;
        if (done) break;
        if (!value || value.length === 0) continue;
        if (chunked) {
          await connection.write(Buffer.from(`${value.length.toString(16)}\r\n`, "latin1"));
          await connection.write(value);
          await connection.write(CRLF);
        } else {
          await connection.write(value);
        }
      }
      if (chunked) await connection.write(LAST_CHUNK);
      this.#sent = true;
      if (this.#head && this.#finishedReading()) this.#done();
    } catch (err) {
      // The client's body failed (it left, or our read deadline cut it): nothing more can be sent.
      this.fail(err);
    }
  }

  /** Response bytes from the socket: a buffer of their own each time (Bun copies every read), ours to keep. */
  received(bytes: Uint8Array): void {
    this.#heard = true;
    try {
      if (this.#head === undefined) return this.#headBytes(bytes);
      this.#bodyBytes(bytes);
    } catch (err) {
      this.fail(err);
    }
  }

  #headBytes(bytes: Uint8Array): void {
    const before = this.#pending?.length ?? 0;
    const all = before === 0 ? bytes : concat(this.#pending!, bytes);
    const end = headEnd(all, Math.max(0, before - 3));
    if ((end < 0 ? all.length : end) > MAX_HEAD_BYTES) throw new ClientError("ResponseHeadersTooLarge", "response headers too large");
    if (end < 0) return void (this.#pending = all);
    this.#pending = undefined;
    const head = parseResponseHead(all, end, this.request.method);
    if (head.status === 101) throw new ClientError("UnrequestedUpgrade", "the backend switched protocols unasked");
    // 100 Continue, 103 Early Hints: the answer is still to come.
    if (head.status < 200) return end < all.length ? this.#headBytes(all.subarray(end)) : undefined;
    this.#head = head;
    const rest = all.subarray(end);
    const { framing } = head;
    if (framing.kind === "none") return this.#answer(null, rest);
    if (framing.kind === "length" && rest.length >= framing.length) return this.#answer(rest.slice(0, framing.length), rest.subarray(framing.length));
    if (framing.kind === "length" && framing.length <= WHOLE_BODY_BYTES) {
      this.#whole = new Uint8Array(framing.length);
      this.#whole.set(rest);
      this.#filled = rest.length;
      this.#left = framing.length - rest.length;
      return;
    }
    this.#body = new BodyStream(this);
    if (framing.kind === "length") this.#left = framing.length;
    if (framing.kind === "chunked") this.#chunked = new ChunkedDecoder();
    this.call.resolve({ status: head.status, headers: head.headers, body: this.#body });
    if (rest.length > 0) this.#bodyBytes(rest);
  }

  /** A response whose body (if any) is all here: answered, and the exchange is over once the request is sent. */
  #answer(body: Uint8Array | null, extra: Uint8Array): void {
    const head = this.#head!;
    this.call.resolve({ status: head.status, headers: head.headers, body });
    if (extra.length > 0) this.#reusable = false;
    if (this.#sent) this.#done();
  }

  #bodyBytes(bytes: Uint8Array): void {
    if (this.#whole) return this.#wholeBytes(this.#whole, bytes);
    const body = this.#body!;
    const framing = this.#head!.framing;
    if (framing.kind === "close") return body.push(bytes);
    if (framing.kind === "length") {
      const n = Math.min(this.#left, bytes.length);
      this.#left -= n;
      body.push(n === bytes.length ? bytes : bytes.subarray(0, n));
      if (n < bytes.length) this.#reusable = false;
    } else {
      const used = this.#chunked!.push(bytes, (data) => body.push(data));
      if (used < bytes.length) this.#reusable = false;
    }
    if (this.#finishedReading()) {
      body.close();
      if (this.#sent) this.#done();
    }
  }

  #wholeBytes(whole: Uint8Array, bytes: Uint8Array): void {
    const n = Math.min(this.#left, bytes.length);
    whole.set(n === bytes.length ? bytes : bytes.subarray(0, n), this.#filled);
    this.#filled += n;
    this.#left -= n;
    if (this.#left === 0) this.#answer(whole, bytes.subarray(n));
  }

  #finishedReading(): boolean {
    const framing = this.#head!.framing;
    return framing.kind === "none" || (framing.kind === "length" ? this.#left === 0 : framing.kind === "chunked" ? this.#chunked!.done : false);
  }

  /** The socket closed; for a body that runs to the close, that is its end. */
  socketClosed(err: Error | undefined): void {
    if (this.#over) return;
    if (this.#head?.framing.kind === "close" && !err) {
      this.#body?.close();
      this.#reusable = false;
      return this.#done();
    }
    // A pooled connection the backend had closed: once more on a new one, if the request can be sent again.
    if (this.reused && !this.#heard && this.request.body === null && this.request.method !== "POST") {
      this.#over = true;
      return this.client.send(this.call, this.request);
    }
    this.fail(err && (err as { code?: unknown }).code ? err : new ClientError("ECONNRESET", "the backend closed the connection"));
  }

  /** Ends the exchange with `err`: the caller's promise or the body stream gets it, and the socket goes. */
  fail(err: unknown): void {
    if (this.#over) return;
    this.#over = true;
    this.call.reject(err);
    this.#body?.error(err);
    const connection = this.#connection;
    if (connection) {
      connection.exchange = undefined;
      connection.socket?.terminate();
    }
  }

  /** The response was read to its end and the request sent whole: the connection may serve again. */
  #done(): void {
    if (this.#over) return;
    this.#over = true;
    const connection = this.#connection!;
    connection.exchange = undefined;
    if (this.#reusable && this.#head!.keepAlive && !connection.closed) this.client.release(connection);
    else connection.socket?.end();
  }

  pause(): void {
    this.#connection?.socket?.pause();
  }

  resume(): void {
    this.#connection?.socket?.resume();
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const all = new Uint8Array(a.length + b.length);
  all.set(a);
  all.set(b, a.length);
  return all;
}
