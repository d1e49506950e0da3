/**
 * @module
 * Why a Redis with a password closed the connection. Bun's client logs in while it connects and
 * reports a refused login only as "Connection closed"; a wrong `-swarm-redis-password` is the
 * likeliest cause, and the operator should be told so. This asks the server once, on a connection
 * of its own: `AUTH` and its reply (`-WRONGPASS …`), never logging what was sent.
 */
import type { Clock } from "../util/clock.ts";
import type { ShardSettings } from "./settings.ts";

/** The server's refusal (`WRONGPASS …`, `NOAUTH …`), or undefined when it took the login or could not be asked. */
export function askWhyLoginFailed(settings: ShardSettings, auth: readonly string[], ca: string | undefined, timeoutMs: number, clock: Clock): Promise<string | undefined> {
  const { promise, resolve } = Promise.withResolvers<string | undefined>();
  const command = `*${auth.length + 1}\r\n$4\r\nAUTH\r\n${auth.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;
  let reply = "";
  const timer = clock.setTimeout(() => resolve(undefined), timeoutMs);
  const done = (answer: string | undefined) => {
    timer.cancel();
    resolve(answer);
  };
  Bun.connect({
    hostname: settings.host,
    port: settings.port,
    tls: settings.tls ? (ca ? { ca, serverName: settings.host } : { serverName: settings.host }) : undefined,
    socket: {
      open: (socket) => void socket.write(command),
      data(socket, bytes) {
        reply += new TextDecoder().decode(bytes);
        const line = reply.indexOf("\r\n");
        if (line < 0) return;
        // Before end(): it runs `close` at once.
        done(reply.startsWith("-") ? reply.slice(1, line) : undefined);
        socket.end();
      },
      close: () => done(undefined),
      error: () => done(undefined),
    },
  }).catch(() => done(undefined));
  return promise;
}
