import { expect, test } from "bun:test";
import type { Socket } from "bun";
import { listenRaw, OpenSockets } from "../../src/net/raw-listener.ts";
import { ListenError } from "../../src/net/listener.ts";

test("a port in use is a ListenError naming the flag and the address", () => {
  const first = listenRaw("-x-address", "127.0.0.1", 0, { data() {} });
  try {
    expect(() => listenRaw("-x-address", "127.0.0.1", first.port, { data() {} })).toThrow(ListenError);
    expect(() => listenRaw("-x-address", "127.0.0.1", first.port, { data() {} })).toThrow(`-x-address 127.0.0.1:${first.port}: address already in use`);
  } finally {
    first.stop(true);
  }
});

test("drain resolves once the last connection closed, or cuts what is left when the grace ends", async () => {
  const cut: string[] = [];
  const fake = (name: string) => ({ terminate: () => void cut.push(name) }) as unknown as Socket<undefined>;
  const open = new OpenSockets<undefined>();
  const a = fake("a");
  open.add(a);
  const draining = open.drain(new Promise(() => {}));
  open.delete(a);
  expect(await draining).toBe(false);

  const b = fake("b");
  open.add(b);
  expect(await open.drain(Promise.resolve())).toBe(true);
  expect(cut).toEqual(["b"]);
});
