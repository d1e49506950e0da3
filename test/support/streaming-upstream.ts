/**
 * @module
 * A raw upstream that answers every request with a body sent as fast as the reader takes it
 * (writes until the socket pushes back, then again on drain), for ever or up to `bytes`; it
 * counts its open connections, so a test sees when the proxy let one go.
 */
import type { Socket } from "bun";

export interface StreamingUpstream {
  readonly port: number;
  /** connections open now */
  open(): number;
  stop(): void;
}

const CHUNK = "y".repeat(64 << 10);

export function streamingUpstream(bytes = Infinity): StreamingUpstream {
  let open = 0;
  type State = { head: string; sent: number };
  const pump = (s: Socket<State>) => {
    while (s.data.sent < bytes) {
      const piece = CHUNK.slice(0, Math.min(CHUNK.length, bytes - s.data.sent));
      const written = s.write(piece);
      s.data.sent += written;
      if (written < piece.length) return;
    }
    s.end();
  };
  const listener = Bun.listen<State>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open: (s) => void (open++, (s.data = { head: "", sent: 0 })),
      close: () => void open--,
      data(s, chunk) {
        if (s.data.head.includes("\r\n\r\n")) return;
        s.data.head += Buffer.from(chunk).toString("latin1");
        if (!s.data.head.includes("\r\n\r\n")) return;
        const length = bytes === Infinity ? "Connection: close" : `Content-Length: ${bytes}`;
        s.write(`HTTP/1.1 200 OK\r\n${length}\r\n\r\n`);
        pump(s);
      },
      drain: pump,
    },
  });
  return { port: listener.port, open: () => open, stop: () => listener.stop(true) };
}
