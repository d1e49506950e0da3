/**
 * @module
 * Circuit breakers in /metrics: transitions counted as they happen (the registry tells every
 * observer, beside its log line), states read from the live breakers when scraped. A destination
 * can have several breakers (routes with their own settings), so the state gauge counts how many
 * of its breakers are in each state — 1 in the one state for the usual single breaker.
 */
import type { BreakerState } from "../circuit/breaker.ts";
import type { BreakerRegistry } from "../circuit/registry.ts";
import type { HostLabels } from "./labels.ts";
import type { MetricRegistry } from "./registry.ts";

const STATES: readonly BreakerState[] = ["closed", "half-open", "open"];

/** Registers the breaker families; returns the function that stops counting transitions. */
export function breakerMetrics(registry: MetricRegistry, hosts: HostLabels, breakers: BreakerRegistry): () => void {
  registry.collect("sallyport_circuit_breaker_state", "Live circuit breakers of a destination host:port in each state (closed, half-open, open).", "gauge", ["host", "state"], (emit) => {
    const byHost = new Map<string, Record<BreakerState, number>>();
    for (const [host, state] of breakers.states()) {
      const label = hosts.label(host);
      let counts = byHost.get(label);
      if (!counts) byHost.set(label, (counts = { closed: 0, "half-open": 0, open: 0 }));
      counts[state]++;
    }
    for (const [host, counts] of byHost) for (const state of STATES) emit([host, state], counts[state]);
  });
  // After the states: reading one may turn an open breaker half-open, counted in the same scrape.
  const transitions = registry.counter("sallyport_circuit_breaker_transitions_total", "Circuit breaker state changes by destination host:port.", ["host", "from", "to"]);
  return breakers.onTransition((host, from, to) => transitions.inc([hosts.label(host), from, to]));
}
