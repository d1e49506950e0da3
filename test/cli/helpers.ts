/** @module The CLI run in process: argv in, exit code, output and the config `serve` was given out. */
import { runCli } from "../../src/cli/index.ts";
import type { Config } from "../../src/config/index.ts";

export async function cli(argv: string[]) {
  const out = { stdout: "", stderr: "", config: undefined as Config | undefined };
  const code = await runCli(
    argv,
    {
      serve: (config) => void (out.config = config),
      check: async () => 0,
      caInit: async () => 0,
      eskipParse: async () => 0,
      explain: async () => 0,
      testPolicy: async () => 0,
    },
    { stdout: { write: (s: string) => (out.stdout += s) }, stderr: { write: (s: string) => (out.stderr += s) } },
  );
  return { code, ...out };
}
