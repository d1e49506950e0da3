/** -breaker, -ratelimits and their -enable-* switches through the whole CLI: argv → config, or Go's error and exit 2. */
import { describe, expect, test } from "bun:test";
import { breakerSettings } from "../../src/circuit/settings.ts";
import { cli } from "./helpers.ts";

describe("argv → config", () => {
  test("no flags: no breakers, no limits", async () => {
    const r = await cli([]);
    expect(r.config).toMatchObject({ breaker: [], enableBreakers: false, ratelimits: [], enableRatelimits: false });
  });

  test("-breaker repeats, in order, parsed", async () => {
    const r = await cli(["-breaker", "type=rate,timeout=3m,idle-ttl=30m", "--breaker=host=foo.example.org:443,window=300,failures=30"]);
    expect(r.stderr).toBe("");
    expect(r.config?.breaker).toEqual([
      breakerSettings({ type: "rate", timeout: 180_000, idleTTL: 1_800_000 }),
      breakerSettings({ type: "consecutive", host: "foo.example.org:443", window: 300, failures: 30 }),
    ]);
  });

  test("-ratelimits and the -enable-* switches", async () => {
    const r = await cli(["-ratelimits", "type=client,max-hits=20,time-window=60s", "-enable-breakers", "-enable-ratelimits"]);
    expect(r.config).toMatchObject({
      ratelimits: [{ type: "client", maxHits: 20, timeWindow: 60_000, group: "" }],
      enableBreakers: true,
      enableRatelimits: true,
    });
  });
});

describe("a bad entry: Go's flag error naming the entry and the key, usage, exit 2", () => {
  test.each([
    [["-breaker", "failures=5", "-breaker", "type=invalid"], 'invalid value "type=invalid" for flag -breaker: invalid breaker config: type: "invalid" (allowed values are: consecutive, rate or disabled)'],
    [["-breaker", "idle-ttl=5as"], 'invalid value "idle-ttl=5as" for flag -breaker: invalid breaker config: idle-ttl: time: unknown unit "as" in duration "5as"'],
    [["-breaker"], "flag needs an argument: -breaker"],
    [["-ratelimits", "type=client,max-hits=ten,time-window=1s"], 'invalid value "type=client,max-hits=ten,time-window=1s" for flag -ratelimits: invalid ratelimit config: max-hits: strconv.Atoi: parsing "ten": invalid syntax'],
  ])("%j", async (argv, message) => {
    const r = await cli(argv);
    expect(r.code).toBe(2);
    expect(r.config).toBeUndefined();
    expect(r.stderr).toStartWith(message + "\n");
    expect(r.stderr).toContain("Usage: sallyport");
  });
});
