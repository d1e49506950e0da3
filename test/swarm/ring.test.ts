/** Consistent hashing of keys onto shards: an even spread, and only a failed shard's keys move. */
import { expect, test } from "bun:test";
import { Ring } from "../../src/swarm/ring.ts";

const shard = (address: string) => ({ address });
const shards = ["10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"].map(shard);
const keys = Array.from({ length: 30_000 }, (_, i) => `sallyport:rl:group:client-${i}`);
const everyone = () => true;

test("keys spread over the shards within 20 % of an even share", () => {
  const ring = new Ring(shards);
  const counts = new Map<string, number>();
  for (const key of keys) {
    const owner = ring.pick(key, everyone)!.address;
    counts.set(owner, (counts.get(owner) ?? 0) + 1);
  }
  for (const s of shards) expect(Math.abs(counts.get(s.address)! / (keys.length / 3) - 1)).toBeLessThan(0.2);
});

test("a key stays on its shard, whatever order the shards were given in", () => {
  const a = new Ring(shards);
  const b = new Ring([...shards].reverse());
  for (const key of keys.slice(0, 1000)) expect(b.pick(key, everyone)).toEqual(a.pick(key, everyone)!);
});

test("a shard that cannot be used is stepped over: only its keys move, and they come back", () => {
  const ring = new Ring(shards);
  const down = shards[1]!;
  let moved = 0;
  for (const key of keys) {
    const before = ring.pick(key, everyone)!;
    const during = ring.pick(key, (s) => s !== down)!;
    expect(during).not.toBe(down);
    if (before !== down) expect(during).toBe(before);
    else moved++;
    expect(ring.pick(key, everyone)).toBe(before);
  }
  expect(moved).toBeGreaterThan(keys.length / 5);
});

test("no usable shard, or none at all: undefined", () => {
  expect(new Ring(shards).pick("k", () => false)).toBeUndefined();
  expect(new Ring<{ address: string }>([]).pick("k", everyone)).toBeUndefined();
});
