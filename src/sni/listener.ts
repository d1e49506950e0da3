/**
 * @module
 * The SNI port (`-sni-address`): TLS that an nftables/iptables rule redirected to it, from clients
 * that know nothing of a proxy, goes where its ClientHello's server name says — under the same
 * egress policy as CONNECT — on `-sni-upstream-port` (443). The model is Envoy's `tls_inspector`
 * with `sni_dynamic_forward_proxy`; nothing is decrypted.
 *
 * ```
 * nft add rule ip nat output tcp dport 443 meta skuid != <proxy uid> redirect to :<sni port>
 * ```
 *
 * Each connection: its first bytes are read as a ClientHello (./client-hello.ts; 16 KiB, within
 * `-forward-head-timeout`), the name goes through the dial plan (screen, our own DNS, the policy,
 * one checked address), the checked address is dialed within `-timeout-backend`, and the bytes
 * read so far go up first — the upstream sees the client's own hello — then both ways are piped
 * with backpressure and half-close (src/tunnel). There is no HTTP to answer a refusal with: a
 * connection that is refused gets a TLS alert where the client spoke TLS (access_denied for the
 * egress policy, unrecognized_name for no usable name or a name that does not resolve,
 * decode_error for a broken hello, internal_error when the dial failed), then is closed; every
 * refusal is a log line.
 *
 * One exchange record per connection that sent anything, kind `tunnel`, method `SNI`, host the
 * `name:port` dialed, proto `TLS`; statuses as the forward port's would be (200 once the tunnel is
 * open, 403 egress-denied, 502/504 DNS and dial, 400 no name or not TLS, 408 no hello in time), so
 * the access log and metrics read them as they read CONNECT.
 */
import type { Socket, TCPSocketListener } from "bun";
import type { DialPlan } from "../egress/dial.ts";
import { badRequest, clientGone, ProxyError, type ErrorCause } from "../exchange/errors.ts";
import type { ExchangeRecord, Exchanges, RequestDetails } from "../exchange/record.ts";
import { peerAddress } from "../net/host-port.ts";
import { displayAddress, type Listener } from "../net/listener.ts";
import type { Admission } from "../net/admission.ts";
import { listenRaw, OpenSockets } from "../net/raw-listener.ts";
import { clientSocketHandlers, openTunnel, type TunnelClient } from "../tunnel/connect.ts";
import type { Clock, Timer } from "../util/clock.ts";
import { ClientHelloReader, MAX_HELLO_BYTES, type HelloResult } from "./client-hello.ts";

export interface SniListenerOptions {
  readonly hostname: string;
  readonly port: number;
  /** -sni-upstream-port: the port dialed on the named host */
  readonly upstreamPort: number;
  readonly dialPlan: DialPlan;
  readonly exchanges: Exchanges;
  readonly clock: Clock;
  /** -timeout-backend, ms: the dial; 0 = no limit */
  readonly dialTimeout: number;
  /** ms a client has to send its whole ClientHello (-forward-head-timeout); default 10 s */
  readonly headTimeout?: number;
  /** the largest ClientHello read; default 16 KiB */
  readonly helloLimit?: number;
  /** where refusals are told; default nowhere */
  readonly log?: { info(message: string): void };
  /** -enable-tcp-queue: how many connections are served at once */
  readonly admission?: Admission<Socket<unknown>> | undefined;
}

/** What an SNI-port client socket carries. */
interface SniClient extends TunnelClient {
  /** the client's address, no port */
  readonly peer: string;
  /** until the hello is read */
  reader: ClientHelloReader | undefined;
  timer: Timer | undefined;
}

export const SNI_LISTENER = "sni";
const FLAG = "-sni-address";
const DEFAULT_HEAD_TIMEOUT = 10_000;

/** What the access log prints as the proto: the rest of its request details are empty. */
const DETAILS: RequestDetails = Object.freeze({ query: "", proto: "TLS", referer: "", userAgent: "", forwardedFor: "", flowId: "", audit: "" });

/** TLS alert descriptions (RFC 8446 §6) a refusal is told with. */
const ALERT = { accessDenied: 49, decodeError: 50, internalError: 80, unrecognizedName: 112 } as const;

/** Which alert tells a client why, by the refusal's cause; none for a client that did not speak TLS or said nothing in time. */
const ALERT_BY_CAUSE: Partial<Record<ErrorCause, number>> = {
  "egress-denied": ALERT.accessDenied,
  "dns-failed": ALERT.unrecognizedName,
  "dns-timeout": ALERT.unrecognizedName,
  "dial-failed": ALERT.internalError,
  "dial-timeout": ALERT.internalError,
  internal: ALERT.internalError,
};

/** A fatal alert record, in plaintext as everything before the ServerHello is. */
export const alertBytes = (description: number): Uint8Array => new Uint8Array([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, description]);

/** A refusal, with the alert that goes with it (undefined: close without one). */
class Refusal extends ProxyError {
  constructor(
    error: ProxyError,
    readonly alert: number | undefined,
  ) {
    super(error.status, error.reason, error.message, { cause: error.cause });
  }
}

/** Why a hello that names no destination is refused. */
function helloRefusal(result: Exclude<HelloResult, { kind: "sni" }>, limit: number): Refusal {
  switch (result.kind) {
    case "no-sni":
      return new Refusal(badRequest(`no server_name in the ClientHello${result.ech ? " (encrypted ClientHello)" : ""}: nothing to dial`), ALERT.unrecognizedName);
    case "not-tls":
      return new Refusal(badRequest("not TLS: the first bytes are not a handshake record"), undefined);
    case "too-large":
      return new Refusal(badRequest(`the ClientHello is over ${limit} bytes`), ALERT.decodeError);
    case "malformed":
      // A name we will not dial is the client's unrecognized name, not a broken hello.
      return new Refusal(badRequest(`malformed ClientHello: ${result.reason}`), result.reason.startsWith("server_name") ? ALERT.unrecognizedName : ALERT.decodeError);
  }
}

export function sniListener(options: SniListenerOptions): Listener {
  const { clock, exchanges, dialPlan, upstreamPort } = options;
  const headTimeout = options.headTimeout ?? DEFAULT_HEAD_TIMEOUT;
  const limit = options.helloLimit ?? MAX_HELLO_BYTES;
  const log = options.log ?? { info() {} };
  const open = new OpenSockets<SniClient>();
  let server: TCPSocketListener<SniClient> | undefined;

  function begin(client: Socket<SniClient>, host: string): ExchangeRecord {
    const record = exchanges.begin(SNI_LISTENER, client.data.peer, "SNI", host, "", "tunnel");
    record.details = DETAILS;
    return record;
  }

  /** The reader is done: a name to dial, or a refusal. */
  function onHello(client: Socket<SniClient>, result: HelloResult, bytes: Uint8Array): void {
    stopReading(client);
    if (result.kind !== "sni") return refuse(client, begin(client, ""), helloRefusal(result, limit));
    // Nothing more is read until the tunnel is open: what arrives meanwhile waits in the kernel.
    client.pause();
    // The reader is dropped, so its buffer is ours: the client's own hello goes up first.
    client.data.early.push(bytes);
    void forward(client, result.name);
  }

  /** Dials the checked address of `name` and pipes; never rejects. */
  async function forward(client: Socket<SniClient>, name: string): Promise<void> {
    const destination = `${name}:${upstreamPort}`;
    const record = begin(client, destination);
    try {
      const { address } = await dialPlan.dial({ host: name, port: upstreamPort, client: client.data.peer, record });
      record.destination = destination;
      record.dialed = displayAddress(address, upstreamPort);
      if (client.data.gone) throw clientGone();
      const tunnel = await openTunnel(client, { address, port: upstreamPort }, {
        clock,
        timeout: options.dialTimeout,
        onClose: () => {
          record.bytesIn = tunnel.up.bytes;
          record.bytesOut = tunnel.down.bytes;
          exchanges.complete(record);
        },
      });
      record.status = 200;
      client.resume();
    } catch (err) {
      refuse(client, record, err);
    }
  }

  /** Completes the record, logs why, tells the client with an alert where it spoke TLS, and closes. */
  function refuse(client: Socket<SniClient>, record: ExchangeRecord, err: unknown): void {
    const error = err instanceof ProxyError ? err : new ProxyError(500, "internal", "Internal Server Error", { cause: err });
    record.status = error.status;
    record.cause = error.reason;
    exchanges.complete(record);
    if (error.reason !== "client-gone") {
      log.info(`sni: closed the connection from ${client.data.peer}${record.host ? ` to ${record.host}` : ""}: ${error.message}`);
    }
    if (client.data.gone) return;
    const alert = error instanceof Refusal ? error.alert : ALERT_BY_CAUSE[error.reason];
    if (alert === undefined) client.end();
    else client.end(alertBytes(alert));
  }

  function stopReading(client: Socket<SniClient>): void {
    client.data.reader = undefined;
    client.data.timer?.cancel();
    client.data.timer = undefined;
  }

  function onTimeout(client: Socket<SniClient>): void {
    const reader = client.data.reader;
    if (!reader) return;
    stopReading(client);
    client.pause();
    refuse(client, begin(client, ""), new Refusal(new ProxyError(408, "request-timeout", `Request Timeout: no complete ClientHello within ${headTimeout} ms`), undefined));
  }

  return {
    name: SNI_LISTENER,
    get open() {
      return open.size;
    },
    async start() {
      server = listenRaw<SniClient>(FLAG, options.hostname, options.port, {
        open(client) {
          const peer = peerAddress(client.remoteAddress);
          client.data = { peer, early: [], reader: new ClientHelloReader(limit), timer: undefined };
          client.data.timer = clock.setTimeout(() => onTimeout(client), headTimeout);
          open.add(client);
        },
        data(client, chunk) {
          const reader = client.data.reader;
          if (!reader) return clientSocketHandlers.data!(client, chunk);
          const outcome = reader.push(chunk);
          if (outcome.kind !== "need-more") onHello(client, outcome, reader.bytes);
        },
        drain: clientSocketHandlers.drain,
        end(client) {
          // A client that stops sending before its hello is complete gets nothing (nor a record:
          // a port probe is not an exchange).
          if (client.data.reader) {
            stopReading(client);
            return void client.terminate();
          }
          clientSocketHandlers.end!(client);
        },
        close(client, err) {
          stopReading(client);
          clientSocketHandlers.close!(client, err);
          open.delete(client);
        },
        error(client, err) {
          stopReading(client);
          clientSocketHandlers.error!(client, err);
        },
      }, options.admission as Admission<Socket<SniClient>> | undefined);
      return displayAddress(options.hostname, server.port);
    },
    async stop(graceMs) {
      server?.stop();
      // Tunnels get the grace to finish, then are cut (as the forward port's).
      return (await open.drain(clock.sleep(graceMs))) ? "forced" : "drained";
    },
  };
}
