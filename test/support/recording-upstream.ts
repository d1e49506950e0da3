/**
 * @module
 * A raw TCP upstream, the test's `nc -l 8080`: it records each request head byte for byte as it
 * arrived and answers `200 ok`, keeping the connection open for the next request. Requests must
 * have no body (the e2e tests send GETs).
 */
import type { TCPSocketListener } from "bun";

export interface RecordingUpstream {
  readonly port: number;
  /** every request head received, in order, as sent on the wire */
  readonly heads: string[];
  /** the Authorization value of each request, "" when it had none */
  authorizations(): string[];
  stop(): void;
}

export function recordingUpstream(): RecordingUpstream {
  const heads: string[] = [];
  const listener: TCPSocketListener<{ buffered: string }> = Bun.listen<{ buffered: string }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        socket.data = { buffered: "" };
      },
      data(socket, bytes) {
        socket.data.buffered += bytes.toString("latin1");
        let end: number;
        while ((end = socket.data.buffered.indexOf("\r\n\r\n")) >= 0) {
          heads.push(socket.data.buffered.slice(0, end + 4));
          socket.data.buffered = socket.data.buffered.slice(end + 4);
          socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok");
        }
      },
    },
  });
  return {
    port: listener.port,
    heads,
    authorizations: () => heads.map((head) => headerOf(head, "authorization") ?? ""),
    stop: () => listener.stop(true),
  };
}

/** The value of header `name` in a raw request head, undefined when absent. */
export function headerOf(head: string, name: string): string | undefined {
  for (const line of head.split("\r\n").slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0 && line.slice(0, colon).toLowerCase() === name) return line.slice(colon + 1).trim();
  }
  return undefined;
}
