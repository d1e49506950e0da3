/**
 * @module
 * A Kubernetes secret volume as the kubelet's AtomicWriter lays it out:
 *
 * ```
 * dir/..2024_01_01_00_00_00.1/token   the data, one timestamped directory per version
 * dir/..data -> ..2024_01_01_00_00_00.1
 * dir/token -> ..data/token            what applications read
 * ```
 *
 * An update writes a new timestamped directory, points `..data_tmp` at it and renames that over
 * `..data` (one atomic step), then adds or removes the top-level links and deletes the old data.
 */
import { mkdir, readdir, readlink, rename, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { rememberSecret } from "./binary.ts";

let version = 0;

/** Writes `files` as a new version of the secret volume in `dir`, the way the kubelet does. */
export async function writeK8sSecret(dir: string, files: Record<string, string>): Promise<void> {
  const previous = await readlink(join(dir, "..data")).catch(() => undefined);
  const current = `..2024_01_01_00_00_00.${++version}`;
  await mkdir(join(dir, current));
  for (const [name, content] of Object.entries(files)) {
    // A later version replaces this one on disk: no proxy's output may hold it either.
    rememberSecret(content);
    await writeFile(join(dir, current, name), content);
  }
  await symlink(current, join(dir, "..data_tmp"));
  await rename(join(dir, "..data_tmp"), join(dir, "..data"));
  const visible = (await readdir(dir)).filter((name) => !name.startsWith(".."));
  for (const name of Object.keys(files)) if (!visible.includes(name)) await symlink(join("..data", name), join(dir, name));
  for (const name of visible) if (!(name in files)) await rm(join(dir, name));
  if (previous) await rm(join(dir, previous), { recursive: true });
}
