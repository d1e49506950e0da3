/**
 * @module
 * How long and how big each part of a run is, per mode. Default is the run whose numbers go into
 * the issue; --quick is for a developer's before/after (minutes); --smoke only proves in seconds
 * that every scenario still runs end to end (CI), so its shapes are tiny and its numbers mean
 * nothing.
 */

export type ModeName = "smoke" | "quick" | "default";

/** One wrk load shape. `id` names its role, so goals and the JSON find it whatever the mode's sizes. */
export interface Shape {
  readonly id: "ka-1k" | "ka-1k-many" | "ka-64k" | "close-1k";
  readonly connections: number;
  /** which upstream body: 1 KiB or 64 KiB */
  readonly body: "1k" | "64k";
  /** a new connection per request (`-H "Connection: close"`) */
  readonly close: boolean;
}

export interface Mode {
  readonly name: ModeName;
  /** measured rounds per (scenario, shape, contender); the tables show the median round */
  readonly rounds: number;
  /** scenario 3 compares two nearly equal numbers, so it gets more rounds */
  readonly featureRounds: number;
  /** seconds per wrk measurement */
  readonly seconds: number;
  /** unrecorded wrk seconds before a contender's first measurement of a shape; 0: none */
  readonly warmup: number;
  readonly threads: number;
  readonly routedShapes: readonly Shape[];
  readonly forwardShapes: readonly Shape[];
  /** bytes of each streamed transfer (the CONNECT downloads and scenario 4) */
  readonly bigBytes: number;
  /** route table sizes of scenario 5 */
  readonly routeCounts: readonly number[];
  /** exec → first response, this many times per contender */
  readonly startupRuns: number;
  /** passed to the micro benchmarks (`--quick` makes them shorter) */
  readonly microArgs: readonly string[];
}

const KA_1K = (connections: number): Shape => ({ id: "ka-1k", connections, body: "1k", close: false });

const ROUTED = (c: number, many: number): Shape[] => [
  KA_1K(c),
  { id: "ka-1k-many", connections: many, body: "1k", close: false },
  { id: "ka-64k", connections: c, body: "64k", close: false },
  { id: "close-1k", connections: c, body: "1k", close: true },
];

const MIB = 1 << 20;
const GIB = 1 << 30;

export const MODES: Record<ModeName, Mode> = {
  default: {
    name: "default",
    rounds: 3,
    featureRounds: 5,
    seconds: 10,
    warmup: 2,
    threads: 2,
    routedShapes: ROUTED(50, 200),
    forwardShapes: [KA_1K(50)],
    bigBytes: GIB,
    routeCounts: [10, 1_000, 10_000, 100_000],
    startupRuns: 10,
    microArgs: [],
  },
  quick: {
    name: "quick",
    rounds: 2,
    featureRounds: 3,
    seconds: 3,
    warmup: 1,
    threads: 2,
    routedShapes: ROUTED(50, 200),
    forwardShapes: [KA_1K(50)],
    bigBytes: GIB,
    routeCounts: [10, 1_000, 10_000, 100_000],
    startupRuns: 5,
    microArgs: ["--quick"],
  },
  smoke: {
    name: "smoke",
    rounds: 1,
    featureRounds: 1,
    seconds: 1,
    warmup: 0,
    threads: 2,
    routedShapes: ROUTED(4, 8),
    forwardShapes: [KA_1K(4)],
    bigBytes: MIB,
    routeCounts: [10, 1_000],
    startupRuns: 3,
    microArgs: ["--quick"],
  },
};

export function shapeLabel(s: Shape): string {
  return `${s.connections} ${s.close ? "new connections (Connection: close)" : "keep-alive connections"}, ${s.body === "1k" ? "1 KiB" : "64 KiB"} bodies`;
}

export function sizeLabel(bytes: number): string {
  return bytes >= GIB ? `${bytes / GIB} GiB` : `${bytes / MIB} MiB`;
}
