/**
 * @module
 * The process itself: memory (RSS and the JavaScript heap), when it started, what each listener
 * has open, event-loop lag, and — once there are TLS listeners — their certificates' expiry.
 *
 * Lag is sampled on the one clock: a timer every `intervalMs` notes how late it fired. A timer
 * rather than perf_hooks' monitorEventLoopDelay, so it is one more timer the clock knows of (a
 * test moves it; stop() ends it), and the cost is one callback per interval.
 *
 * `certificates` is the TLS listeners' (`-tls-cert`): each passes the notAfter of the certificate
 * it serves now, read at every scrape so a rotation shows at once, and an alert can fire before
 * it lapses. Without TLS listeners the gauge is absent.
 */
import type { Clock } from "../util/clock.ts";
import type { MetricRegistry } from "./registry.ts";

/** A listener's certificate, for the expiry gauge. */
export interface CertificateExpiry {
  /** the listener's name, e.g. `proxy` */
  readonly listener: string;
  /** unix ms of the certificate's notAfter */
  readonly notAfter: number;
}

export interface ProcessMetricsOptions {
  readonly clock: Clock;
  /** wall-clock ms since the epoch, for the start time */
  readonly unixMs: () => number;
  /** ms between lag samples */
  readonly lagIntervalMs: number;
  /** by listener name: connections where the listener owns its sockets, else requests in flight */
  readonly openByListener?: (() => ReadonlyMap<string, number>) | undefined;
  readonly certificates?: (() => Iterable<CertificateExpiry>) | undefined;
}

/** Seconds late: 1 ms is a busy loop, a second is a stall clients notice. */
const LAG_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Registers the process families and starts the lag sampler; returns the function that stops it. */
export function processMetrics(registry: MetricRegistry, options: ProcessMetricsOptions): () => void {
  const startedAt = (options.unixMs() - process.uptime() * 1000) / 1000;
  registry.collect("process_start_time_seconds", "When the process started, in seconds since the epoch.", "gauge", [], (emit) => emit([], startedAt));
  registry.collect("process_resident_memory_bytes", "Resident set size of the process.", "gauge", [], (emit) => emit([], process.memoryUsage.rss()));
  registry.collect("sallyport_heap_used_bytes", "JavaScript heap in use.", "gauge", [], (emit) => emit([], process.memoryUsage().heapUsed));
  registry.collect("sallyport_heap_size_bytes", "JavaScript heap reserved.", "gauge", [], (emit) => emit([], process.memoryUsage().heapTotal));
  const { openByListener, certificates } = options;
  if (openByListener) {
    registry.collect("sallyport_listener_open", "What a listener has open: connections on the forward port, requests in flight on the Bun.serve listeners.", "gauge", ["listener"], (emit) => {
      for (const [listener, open] of openByListener()) emit([listener], open);
    });
  }
  if (certificates) {
    registry.collect("sallyport_tls_certificate_expiry_timestamp_seconds", "When a listener's TLS certificate expires, in seconds since the epoch.", "gauge", ["listener"], (emit) => {
      for (const cert of certificates()) emit([cert.listener], cert.notAfter / 1000);
    });
  }
  return sampleLag(registry, options.clock, options.lagIntervalMs);
}

function sampleLag(registry: MetricRegistry, clock: Clock, intervalMs: number): () => void {
  const lag = registry.histogram("sallyport_event_loop_lag_seconds", `How late a timer due every ${intervalMs} ms fired.`, [], LAG_BUCKETS);
  lag.init([]);
  let stopped = false;
  let timer = schedule();
  function schedule() {
    const due = clock.now() + intervalMs;
    return clock.setTimeout(() => {
      if (stopped) return;
      lag.observe([], Math.max(0, clock.now() - due) / 1000);
      timer = schedule();
    }, intervalMs);
  }
  return () => {
    stopped = true;
    timer.cancel();
  };
}
