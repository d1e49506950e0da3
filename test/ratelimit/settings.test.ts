/** The -ratelimits value syntax (Skipper's config/ratelimiterflags_test.go cases). */
import { describe, expect, test } from "bun:test";
import { parseRatelimitFlag, type RatelimitSettings } from "../../src/ratelimit/settings.ts";

describe("parseRatelimitFlag accepts", () => {
  test.each<{ value: string; settings: RatelimitSettings }>([
    { value: "type=service,max-hits=100,time-window=10s", settings: { type: "service", maxHits: 100, timeWindow: 10_000, group: "" } },
    { value: "type=client,max-hits=50,time-window=2m", settings: { type: "client", maxHits: 50, timeWindow: 120_000, group: "" } },
    { value: "type=disabled,max-hits=50,time-window=2m", settings: { type: "disabled", maxHits: 50, timeWindow: 120_000, group: "" } },
    { value: "type=local,max-hits=5,time-window=1s", settings: { type: "client", maxHits: 5, timeWindow: 1000, group: "" } },
    { value: "max-hits=5,time-window=1s", settings: { type: "disabled", maxHits: 5, timeWindow: 1000, group: "" } },
    { value: "type=client,max-hits=5,time-window=1s,group=g", settings: { type: "client", maxHits: 5, timeWindow: 1000, group: "g" } },
    { value: "type=clusterService,max-hits=5000,time-window=1h,group=github", settings: { type: "clusterService", maxHits: 5000, timeWindow: 3_600_000, group: "github" } },
    { value: "type=clusterClient,max-hits=5,time-window=1s,group=login", settings: { type: "clusterClient", maxHits: 5, timeWindow: 1000, group: "login" } },
  ])("$value", ({ value, settings }) => {
    expect(parseRatelimitFlag(value)).toEqual(settings);
  });
});

describe("parseRatelimitFlag refuses, naming the key", () => {
  test.each([
    ["type=invalid,max-hits=50,time-window=2m", 'invalid ratelimit config: type: "invalid" (allowed values are: client, service, clusterClient, clusterService or disabled)'],
    ["type=clusterClient,max-hits=5,time-window=1s", "invalid ratelimit config: group: type=clusterClient needs a group, the budget it shares with cluster filters of that group"],
    ["type=client,max-hits=x,time-window=1s", 'invalid ratelimit config: max-hits: strconv.Atoi: parsing "x": invalid syntax'],
    ["type=client,max-hits=5,time-window=10", 'invalid ratelimit config: time-window: time: missing unit in duration "10"'],
    ["type=client,max-hits=5", "invalid ratelimit config: time-window: must be a positive duration"],
    ["type=client,max-hits=5,time-window=1s,burst=2", 'invalid ratelimit config: unknown key "burst"'],
    ["client", 'invalid ratelimit config: "client" is not key=value'],
  ])("%p", (value, message) => {
    expect(() => parseRatelimitFlag(value)).toThrow(message);
  });
});
