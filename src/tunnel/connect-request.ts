/**
 * @module
 * A CONNECT on the forward port, from its head to an open tunnel: the proxy user (407), the
 * target (400), `-connect-ports` (403), the dial plan (403 `egress-denied`, 502/504 from DNS), the
 * dial to the checked address (502 `dial-failed`, 504 `dial-timeout`), then `200 Connection
 * Established`. Every refusal is an HTTP answer; once the 200 is out, a failure closes the tunnel.
 * Bytes the client sent behind the head (a TLS ClientHello, often) go up the tunnel first.
 */
import type { Socket } from "bun";
import { requestDetails } from "../accesslog/index.ts";
import type { DialPlan } from "../egress/dial.ts";
import { badRequest, clientGone, ProxyError } from "../exchange/errors.ts";
import type { ExchangeRecord, Exchanges } from "../exchange/record.ts";
import { parseAuthority } from "../net/host-port.ts";
import { authorityOf } from "../proxy/upstream.ts";
import type { Clock } from "../util/clock.ts";
import { errorBytes, ESTABLISHED } from "./answer.ts";
import { openTunnel, type ForwardClient, type TunnelClient } from "./connect.ts";
import { headerValue, type RequestHead } from "./head.ts";
import type { Interception } from "./intercept.ts";
import { proxyUser, type ProxyAuth } from "./proxy-user.ts";

export interface ConnectOptions {
  /** -connect-ports */
  readonly connectPorts: ReadonlySet<number>;
  readonly dialPlan: DialPlan;
  /** -forward-auth-file, when set */
  readonly auth: ProxyAuth | undefined;
  /** -timeout-backend, ms */
  readonly dialTimeout: number;
  readonly exchanges: Exchanges;
  readonly listener: string;
  readonly clock: Clock;
  /** -intercept-hosts; unset: every CONNECT is a blind tunnel */
  readonly intercept?: Interception | undefined;
}


/** Serves one CONNECT; `rest` is what the client sent after the head. Never rejects. */
export async function serveConnect(client: Socket<ForwardClient>, head: RequestHead, rest: Uint8Array, options: ConnectOptions): Promise<void> {
  const record = options.exchanges.begin(options.listener, client.data.peer, "CONNECT", head.target, "", "tunnel");
  record.identity = client.data.identity;
  record.details = requestDetails((name) => headerValue(head, name), "", head.version);
  // Nothing more is read until the tunnel is open: what arrives meanwhile waits in the kernel.
  client.pause();
  if (rest.length > 0) client.data.early.push(rest);
  try {
    record.user = await proxyUser(options.auth, headerValue(head, "proxy-authorization"));
    const target = parseAuthority(head.target);
    if (typeof target === "string") throw badRequest(`CONNECT needs host:port: ${target}`);
    if (!options.connectPorts.has(target.port)) {
      throw new ProxyError(403, "connect-port-denied", `Forbidden: CONNECT to port ${target.port} is not allowed (-connect-ports ${[...options.connectPorts].join(",")})`);
    }
    const { address } = await options.dialPlan.dial({ host: target.host, port: target.port, client: record.peer, user: record.user, identity: record.identity, record });
    record.destination = head.target.toLowerCase();
    if (client.data.gone) throw clientGone();
    if (options.intercept?.matches(target.host, target.port)) {
      // The requests inside get records of their own; this one is the tunnel's.
      await options.intercept.intercept(client, target, client.data.early.splice(0), (bytes) => {
        record.bytesIn = bytes.bytesIn;
        record.bytesOut = bytes.bytesOut;
        options.exchanges.complete(record);
      });
      record.status = 200;
      return;
    }
    record.dialed = authorityOf({ address, port: target.port, serverName: undefined });
    const tunnel = await openTunnel(client, { address, port: target.port }, {
      clock: options.clock,
      timeout: options.dialTimeout,
      greeting: ESTABLISHED,
      onClose: () => {
        record.bytesIn = tunnel.up.bytes;
        record.bytesOut = Math.max(0, tunnel.down.bytes - ESTABLISHED.length);
        options.exchanges.complete(record);
      },
    });
    record.status = 200;
    client.resume();
  } catch (err) {
    refuse(client, record, err, options.exchanges);
  }
}

/** Answers a refused CONNECT (or a head the front will not serve) and closes the connection. */
export function refuse(client: Socket<TunnelClient>, record: ExchangeRecord, err: unknown, exchanges: Exchanges): void {
  const error = err instanceof ProxyError ? err : new ProxyError(500, "internal", "Internal Server Error", { cause: err });
  record.status = error.status;
  record.cause = error.reason;
  exchanges.complete(record);
  if (client.data.gone) return;
  client.write(errorBytes(error));
  client.end();
}
