/**
 * Skipper's queue listener (-enable-tcp-queue): at most `concurrency` connections served, the
 * others waiting unread, the newest waiting served next, the oldest waiting closed when the
 * queue is full — the logic on stand-in sockets, then a real raw listener on 127.0.0.1.
 */
import { expect, test } from "bun:test";
import { Admission, type Waitable } from "../../src/net/admission.ts";
import { listenRaw } from "../../src/net/raw-listener.ts";

function standIn(name: string, events: string[]): Waitable & { name: string } {
  return { name, pause: () => void events.push(`pause ${name}`), resume: () => void events.push(`resume ${name}`), terminate: () => void events.push(`terminate ${name}`) };
}

test("two served, the rest wait paused; a full queue closes the oldest waiting; a freed slot goes to the newest waiting", () => {
  const events: string[] = [];
  const admission = new Admission<Waitable & { name: string }>({ concurrency: 2, queue: 2 });
  const [a, b, c, d, e] = ["a", "b", "c", "d", "e"].map((n) => standIn(n, events)) as [ReturnType<typeof standIn>, ReturnType<typeof standIn>, ReturnType<typeof standIn>, ReturnType<typeof standIn>, ReturnType<typeof standIn>];
  const serve = (s: { name: string }) => () => void events.push(`serve ${s.name}`);
  for (const s of [a, b, c, d, e]) admission.admit(s, serve(s));
  expect(events).toEqual(["serve a", "serve b", "pause c", "pause d", "pause e", "terminate c"]);
  expect([admission.serving, admission.waiting, admission.dropped]).toEqual([2, 2, 1]);

  events.length = 0;
  expect(admission.release(c)).toBe(false); // the dropped one's close: it was waiting, not served
  expect(admission.release(a)).toBe(true);
  expect(events).toEqual(["resume e", "serve e"]);
  expect(admission.release(d)).toBe(false); // a waiting client that gave up leaves the queue
  expect(admission.release(b)).toBe(true);
  expect([admission.serving, admission.waiting]).toEqual([1, 0]);
  expect(admission.release(b)).toBe(false); // a second close of the same socket frees nothing
});

test("a raw listener under an admission of one: the second client is not read until the first has gone, a third pushes the second out", async () => {
  const seen: string[] = [];
  const listener = listenRaw<undefined>("-x-address", "127.0.0.1", 0, { data: (_s, bytes) => void seen.push(Buffer.from(bytes).toString()) }, new Admission({ concurrency: 1, queue: 1 }));
  const closed: string[] = [];
  const client = (name: string) => Bun.connect({ hostname: "127.0.0.1", port: listener.port, socket: { data() {}, close: () => void closed.push(name) } });
  const until = async (done: () => boolean) => {
    for (let i = 0; i < 200 && !done(); i++) await Bun.sleep(5);
    return done();
  };
  try {
    const first = await client("first");
    first.write("1");
    expect(await until(() => seen.includes("1"))).toBe(true);
    const second = await client("second");
    second.write("2");
    const third = await client("third");
    third.write("3");
    // The queue holds one: the second, older than the third, is closed unread.
    expect(await until(() => closed.includes("second"))).toBe(true);
    expect(seen).toEqual(["1"]);
    first.terminate();
    expect(await until(() => seen.includes("3"))).toBe(true);
    expect(seen).toEqual(["1", "3"]);
    third.terminate();
  } finally {
    listener.stop(true);
  }
});
