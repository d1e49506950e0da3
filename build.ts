/**
 * Compiles src/main.ts into one self-contained binary, dist/sallyport.
 *
 * Bytecode: the runtime starts from precompiled code instead of parsing the bundle, which halves
 * the time from exec to the first proxied response (bench/RESULTS.md, start-up).
 *
 * The autoload switches are off so a stray `.env` or `bunfig.toml` in the directory a deployed
 * binary runs from cannot change its behaviour (e.g. an HTTP_PROXY that would loop it).
 */
import { $ } from "bun";
import pkg from "./package.json" with { type: "json" };

const outfile = process.env.SALLYPORT_OUTFILE ?? "dist/sallyport";
const started = performance.now();
await $`${process.execPath} build src/main.ts --compile --minify --sourcemap --bytecode --format=esm --no-compile-autoload-dotenv --no-compile-autoload-bunfig --define SALLYPORT_VERSION=${JSON.stringify(pkg.version)} --outfile ${outfile}`.quiet();
console.log(`built ${outfile} (${pkg.version}) in ${Math.round(performance.now() - started)} ms`);
