/**
 * Breakers and rate limits under `-workers`: the primary's StateOwner and each worker's
 * PrimaryState, wired here as their IPC channel wires them (each batch copied as
 * structuredClone would), on the one fake clock. The e2e side is in test/e2e/workers.test.ts.
 */
import { expect, test } from "bun:test";
import { REFUSED, type Breaker } from "../../src/circuit/breaker.ts";
import { BreakerRegistry } from "../../src/circuit/registry.ts";
import { breakerSettings } from "../../src/circuit/settings.ts";
import { nextTurn } from "../../src/util/clock.ts";
import { StateOwner } from "../../src/workers/state-owner.ts";
import { PrimaryState } from "../../src/workers/state-view.ts";
import { FakeClock } from "../support/clock.ts";

const HOST = "api.example:443";
const ROUTE = breakerSettings({ type: "consecutive", failures: 2, timeout: 1000, halfOpenRequests: 1 });

function world() {
  const clock = new FakeClock();
  const logs: string[] = [];
  const owner = new StateOwner({ clock, breakers: [], log: (m) => logs.push(m), nextTurn });
  let number = 0;
  const worker = () => {
    const n = number++;
    const state = new PrimaryState({ send: (batch) => owner.receive(n, structuredClone(batch)), clock, nextTurn });
    owner.attach(n, (batch) => state.receive(structuredClone(batch)));
    const breakers = new BreakerRegistry({ entries: [], clock, create: state.breakers });
    return { state, breaker: () => breakers.get(HOST, ROUTE) };
  };
  return { clock, logs, owner, worker };
}

/** Lets both sides send and answer what is queued. */
async function settle(): Promise<void> {
  for (let i = 0; i < 4; i++) await nextTurn();
}

test("a limiter's slots are the primary's: workers taking in turn get max between them", async () => {
  const { worker } = world();
  const [a, b] = [worker().state.limiters("service 3 60000", 3, 60_000), worker().state.limiters("service 3 60000", 3, 60_000)];
  const waits = await Promise.all([a.take("k"), b.take("k"), a.take("k"), b.take("k"), a.take("other")]);
  expect(waits.map((w) => w > 0)).toEqual([false, false, false, true, false]);
});

/** One request through `w`'s view of the breaker, answered with success or failure. */
async function request(w: { breaker: () => Breaker }, success: boolean): Promise<void> {
  const ticket = await w.breaker().allow();
  expect(ticket).not.toBe(REFUSED);
  w.breaker().done(ticket, success);
}

test("a new view asks the primary until it knows the state; a closed one then admits without asking", async () => {
  const { worker } = world();
  const a = worker();
  const first = a.breaker().allow();
  expect(first).toBeInstanceOf(Promise);
  expect(await first).toBe(0);
  expect(a.breaker().allow()).toBe(0);
});

test("failures from two workers open the one breaker; both refuse without asking; the log line is written once", async () => {
  const { worker, logs, owner } = world();
  const [a, b] = [worker(), worker()];
  await Promise.all([request(a, false), request(b, false)]);
  await settle();
  expect(a.breaker().allow()).toBe(REFUSED);
  expect(b.breaker().allow()).toBe(REFUSED);
  expect(logs).toEqual([`circuit breaker ${HOST} went from closed to open`]);
  expect([...owner.breakers.states()]).toEqual([[HOST, "open"]]);
});

test("half-open: the probes are the primary's to give, one in all; its success closes every worker's view", async () => {
  const { worker, clock } = world();
  const [a, b] = [worker(), worker()];
  await Promise.all([request(a, false), request(b, false)]);
  await settle();
  clock.advance(1000);
  const probes = [a.breaker().allow(), b.breaker().allow()];
  expect(probes.every((p) => p instanceof Promise)).toBe(true);
  const tickets = await Promise.all(probes);
  expect(tickets.filter((t) => t === REFUSED)).toHaveLength(1);
  const [winner, ticket] = tickets[0] === REFUSED ? [b, tickets[1]!] : [a, tickets[0]!];
  winner.breaker().done(ticket, true);
  await settle();
  expect([a.breaker().allow(), b.breaker().allow()]).toEqual([3, 3]);
});

test("a worker that starts later learns the state the others left the breaker in", async () => {
  const { worker } = world();
  const a = worker();
  await request(a, false);
  await request(a, false);
  await settle();
  const late = worker();
  expect(await late.breaker().allow()).toBe(REFUSED);
  expect(late.breaker().allow()).toBe(REFUSED);
});

test("outcomes of requests admitted before the trip, reported after it, do not count against the next generation", async () => {
  const { worker, clock } = world();
  const [a, b] = [worker(), worker()];
  const stale = await b.breaker().allow();
  await request(a, false);
  await request(a, false);
  await settle();
  clock.advance(1000);
  const probe = await a.breaker().allow();
  b.breaker().done(stale, false);
  a.breaker().done(probe, true);
  await settle();
  expect(b.breaker().allow()).toBe(3);
});

test("when the primary is gone, what it left unanswered and all that follows is decided in the worker", async () => {
  const clock = new FakeClock();
  const state = new PrimaryState({ send: () => {}, clock, nextTurn });
  const limiter = state.limiters("service 1 60000", 1, 60_000);
  const unanswered = limiter.take("k");
  expect(unanswered).toBeInstanceOf(Promise);
  state.disconnected();
  expect(await unanswered).toBe(0);
  expect(limiter.take("k")).toBeGreaterThan(0);
});
