/** @module A raw TCP client for requests curl refuses to send (two Host headers, odd framing). */

/** Sends `request` as is and returns everything the server writes until it closes or `ms` pass. */
export async function rawRequest(port: number, request: string, ms = 2000): Promise<string> {
  const { promise, resolve } = Promise.withResolvers<string>();
  let received = "";
  const decoder = new TextDecoder();
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_s, bytes) {
        received += decoder.decode(bytes, { stream: true });
      },
      close() {
        resolve(received);
      },
      error() {
        resolve(received);
      },
    },
  });
  socket.write(request);
  const timer = setTimeout(() => {
    socket.end();
    resolve(received);
  }, ms);
  const out = await promise;
  clearTimeout(timer);
  return out;
}
