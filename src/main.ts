/**
 * sallyport: an egress proxy. Entry point: flags → config → listeners; SIGTERM/SIGINT drain,
 * SIGHUP re-reads the routes.
 */
// fetch queues beyond 256 in-flight requests per process; long downloads would starve the rest.
process.env.BUN_CONFIG_MAX_HTTP_REQUESTS ??= "16384";

import { startSallyport, StartupError } from "./app.ts";
import { runCheck } from "./cli/check.ts";
import { runEskipParse } from "./cli/eskip-parse.ts";
import { runCli } from "./cli/index.ts";
import type { Config } from "./config/index.ts";
import { log } from "./log/index.ts";
import { LOG_LEVELS } from "./log/index.ts";
import { RouteSourceError } from "./routing/source.ts";

async function serve(config: Config): Promise<number> {
  log.level = LOG_LEVELS[config.applicationLogLevel];
  let app;
  try {
    app = await startSallyport(config, log);
  } catch (e) {
    if (e instanceof StartupError || e instanceof RouteSourceError) {
      log.error(`Failed to start sallyport: ${e.message}`);
      return 1;
    }
    throw e;
  }
  process.on("SIGHUP", () => {
    log.info("SIGHUP: re-reading routes");
    void app.routes.poll();
  });
  const signal = await new Promise<string>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  log.info(`${signal}: draining in-flight requests`);
  await app.stop();
  log.info("stopped");
  return 0;
}

const code = await runCli(process.argv.slice(2), { serve, check: runCheck, eskipParse: runEskipParse });
process.exit(code);
