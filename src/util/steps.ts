/**
 * @module
 * Long jobs written once, as generators that yield after each unit of work (a route parsed, built,
 * placed in the matcher), and run either in one go or with a turn of the event loop every so many
 * steps, so that requests keep being served while a huge routing table is rebuilt.
 */
import { nextTurn } from "./clock.ts";

/** Runs `steps` to the end in one go. */
export function runSteps<T>(steps: Generator<void, T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** Runs `steps` to the end, giving the event loop a turn after every `every` steps. */
export async function runStepsAsync<T>(steps: Generator<void, T>, every: number): Promise<T> {
  for (let n = 1; ; n++) {
    const step = steps.next();
    if (step.done) return step.value;
    // A macrotask, not a resolved promise: microtasks run before I/O, so only this lets requests in.
    if (n % every === 0) await nextTurn();
  }
}
