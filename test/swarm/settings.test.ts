/** `-swarm-redis-urls` entries: Skipper's HOST:PORT, redis:// and rediss:// URLs; never a password. */
import { expect, test } from "bun:test";
import { parseShard, type ShardSettings } from "../../src/swarm/settings.ts";

test.each<[string, Partial<ShardSettings>]>([
  ["127.0.0.1:6379", { address: "127.0.0.1:6379", host: "127.0.0.1", port: 6379, tls: false, username: undefined, db: 0 }],
  ["127.0.0.1", { address: "127.0.0.1:6379" }],
  ["redis.internal:6380", { address: "redis.internal:6380", port: 6380, tls: false }],
  ["[::1]:7000", { address: "[::1]:7000", host: "::1", port: 7000 }],
  ["redis://127.0.0.1", { address: "127.0.0.1:6379", tls: false }],
  ["rediss://cache.example:6390/2", { address: "cache.example:6390", tls: true, db: 2 }],
  ["REDIS://limiter@127.0.0.1:6379", { username: "limiter", tls: false }],
])("%p", (entry, expected) => {
  const parsed = parseShard(entry);
  expect("value" in parsed && parsed.value).toMatchObject(expected);
});

test.each([
  ["127.0.0.1:0", "is not 1–65535"],
  ["redis://:hunter2@127.0.0.1:6379", "a password in the URL would show in ps and in logs; give it in a file with -swarm-redis-password"],
  ["redis://user:hunter2@127.0.0.1:6379", "-swarm-redis-password"],
  ["redis://127.0.0.1:6379/x", 'the database must be a number, got "x"'],
  ["redis://127.0.0.1:6379?db=1", "a Redis URL takes no query or fragment"],
  ["redis://", "not a host name"],
  ["redis cache:6379", "not a host name"],
])("%p is refused: %s", (entry, message) => {
  const parsed = parseShard(entry);
  expect("error" in parsed && parsed.error).toContain(message);
});
