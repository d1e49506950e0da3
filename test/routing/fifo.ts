/** @module FIFOs for tests that must prove a read does not block on one. */
import { expect } from "bun:test";
import { closeSync, constants, openSync } from "node:fs";

export async function makeFifo(path: string): Promise<void> {
  const mkfifo = Bun.spawn(["mkfifo", path]);
  expect(await mkfifo.exited).toBe(0);
}

/**
 * Runs `work` on a FIFO and gives up after a second, so a regression fails fast instead of
 * hanging: a reader stuck in open() or read() is then released by opening the FIFO for writing
 * (non-blocking, so this open cannot hang either) and closing it, which gives the reader EOF.
 */
export async function withoutHanging<T>(fifo: string, work: () => Promise<T>): Promise<T | "hung"> {
  const timer = Promise.withResolvers<"hung">();
  const guard = setTimeout(() => timer.resolve("hung"), 1_000);
  try {
    return await Promise.race([work(), timer.promise]);
  } finally {
    clearTimeout(guard);
    try {
      closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // ENXIO: nobody has it open for reading, so nobody is stuck.
    }
  }
}
