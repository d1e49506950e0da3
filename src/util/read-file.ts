/**
 * @module
 * Reading small text files that an operator may replace at any time (route files, egress lists,
 * htpasswd): one read, never blocking on a FIFO or device put in a file's place, and one way of
 * saying why a read failed.
 */
import { constants } from "node:fs";
import { open } from "node:fs/promises";

/** Why a read failed, as messages say it: the system error code (`EACCES`), else the message. */
export const errorCode = (e: unknown): string => (e as NodeJS.ErrnoException)?.code ?? (e as Error)?.message ?? String(e);

/**
 * Reads a file as UTF-8. Rejects with the system error (its `code` says why) or with "not a
 * regular file": the file is opened non-blocking and checked with fstat before reading, so a FIFO
 * (or a device) put in its place can neither hang the poll nor be read forever.
 */
export async function readTextFile(path: string): Promise<string> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    if (!(await handle.stat()).isFile()) throw new Error("not a regular file");
    return await handle.readFile("utf8");
  } finally {
    await handle.close().catch(() => {});
  }
}
