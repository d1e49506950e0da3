/**
 * deploy/container: no Docker engine runs here, so the Dockerfile is checked by parts instead of
 * built. dockerfile-utils lints it (hadolint too where it is installed); the rules hadolint
 * would enforce that matter here are asserted on dockerfile-ast's parse; the
 * Dockerfile.dockerignore lets in exactly what the COPYs need; the build stage's RUN lines are
 * replayed outside Docker on a context laid out as the COPYs lay it out, with the same Bun; and
 * the image's ENTRYPOINT, CMD and HEALTHCHECK run against what that replay built.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { childEnv } from "../support/binary.ts";
import { DEPLOY, ROOT, TOOLS, TOOLS_MISSING, freePort, run, skipWithoutTools, which, withFlag } from "./deploy.ts";

const DOCKERFILE = join(DEPLOY, "container/Dockerfile");
const IGNORE = join(DEPLOY, "container/Dockerfile.dockerignore");
const text = readFileSync(DOCKERFILE, "utf8");

const scratch = mkdtempSync(join(tmpdir(), "sallyport-container-"));
// Readable by uid 65532, which the image's USER line runs the binary as below.
chmodSync(scratch, 0o755);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Instruction {
  keyword: string;
  args: string[];
  raw: string;
  /** COPY --from's stage, else null */
  from: string | null;
}
interface Stage {
  image: string;
  tag: string | null;
  digest: string | null;
  name: string | null;
  instructions: Instruction[];
}

/** The Dockerfile's stages, from dockerfile-ast's parse. */
async function stagesOf(content: string): Promise<Stage[]> {
  const { DockerfileParser } = await import(join(TOOLS, "dockerfile-ast/lib/main.js"));
  const stages: Stage[] = [];
  for (const instruction of DockerfileParser.parse(content).getInstructions()) {
    const keyword = instruction.getKeyword() as string;
    if (keyword === "FROM") {
      stages.push({ image: instruction.getImageName(), tag: instruction.getImageTag(), digest: instruction.getImageDigest(), name: instruction.getBuildStage(), instructions: [] });
      continue;
    }
    const from = keyword === "COPY" ? (instruction.getFromFlag()?.getValue() ?? null) : null;
    stages.at(-1)?.instructions.push({ keyword, args: instruction.getArguments().map((a: { getValue(): string }) => a.getValue()), raw: instruction.getRawArgumentsContent() ?? "", from });
  }
  return stages;
}

/** An exec-form (JSON array) argument list, or undefined for the shell form. */
function execForm(raw: string): string[] | undefined {
  const start = raw.indexOf("[");
  if (start < 0) return undefined;
  try {
    const parsed = JSON.parse(raw.slice(start));
    return Array.isArray(parsed) && parsed.every((p) => typeof p === "string") ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Docker's .dockerignore rule: the last pattern matching a path (or one of its parent directories) decides. */
function ignored(patterns: string[], path: string): boolean {
  let excluded = false;
  const parents = path.split("/").map((_, i, parts) => parts.slice(0, i + 1).join("/"));
  for (const raw of patterns) {
    const negated = raw.startsWith("!");
    const pattern = (negated ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, "");
    if (parents.some((p) => new Bun.Glob(pattern).match(p))) excluded = !negated;
  }
  return excluded;
}
const ignorePatterns = readFileSync(IGNORE, "utf8").split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));

describe.skipIf(skipWithoutTools)(`the Dockerfile${skipWithoutTools ? ` (skipped: ${TOOLS_MISSING})` : ""}`, () => {
  test("dockerfile-utils finds nothing, with every optional check raised to an error", async () => {
    const { validate } = await import(join(TOOLS, "dockerfile-utils/lib/main.js"));
    const strict = Object.fromEntries(["deprecatedMaintainer", "directiveCasing", "emptyContinuationLine", "instructionCasing", "instructionCmdMultiple", "instructionEntrypointMultiple", "instructionHealthcheckMultiple", "instructionJSONInSingleQuotes", "instructionWorkdirRelative"].map((k) => [k, 2]));
    const messages = (content: string) => validate(content, strict).map((d: { message: string; range: { start: { line: number } } }) => `${d.range.start.line + 1}: ${d.message}`);
    expect(messages(text)).toEqual([]);
    // The linter does look: a misspelt HEALTHCHECK flag and a bad port are found.
    expect(messages(text.replace("--interval=", "--intervl=").replace("EXPOSE 9090", "EXPOSE 90x90")).length).toBe(2);
  });

  test("two stages: oven/bun at the version package.json pins, then a glibc runtime", async () => {
    const [build, runtime, ...more] = await stagesOf(text);
    expect(more).toEqual([]);
    expect(`${build!.image}:${build!.tag}`).toBe(`oven/bun:${pkg.devDependencies.bun}`);
    expect(build!.name).toBe("build");
    // glibc bases only: the compiled binary is linked against glibc (no alpine, no scratch).
    expect(runtime!.image).toMatch(/^(debian|gcr\.io\/distroless\/(cc|base)-debian\d+)$/);
  });

  test("the rules hadolint would check: pinned tags, no ADD, absolute WORKDIR, a non-root USER last, exec forms, COPY --from a known stage", async () => {
    const stages = await stagesOf(text);
    for (const stage of stages) {
      expect(stage.tag ?? stage.digest).not.toBeNull(); // DL3006
      expect(stage.tag).not.toBe("latest"); // DL3007
      for (const i of stage.instructions) {
        expect(i.keyword).not.toBe("ADD"); // DL3020
        if (i.keyword === "WORKDIR") expect(i.args[0]!).toStartWith("/"); // DL3000
        if (i.from !== null) expect(stages.map((s) => s.name)).toContain(i.from); // DL3022
      }
    }
    const runtime = stages.at(-1)!.instructions;
    const user = runtime.filter((i) => i.keyword === "USER").at(-1);
    expect(user?.args[0]).toBe("65532:65532"); // DL3002: not root, numeric so runAsNonRoot can check it
    for (const keyword of ["ENTRYPOINT", "CMD", "HEALTHCHECK"]) {
      const found = runtime.filter((i) => i.keyword === keyword);
      expect(found.length).toBe(1);
      expect(execForm(found[0]!.raw)).toBeDefined(); // DL3025
    }
    expect(runtime.find((i) => i.keyword === "STOPSIGNAL")?.args[0]).toBe("SIGTERM");
  });

  test.skipIf(which("hadolint") === undefined)(`hadolint${which("hadolint") === undefined ? " (skipped: not installable here: not in Debian's archive, and npm's hadolint wrapper downloads the binary from GitHub at run time)" : ""}`, async () => {
    const r = await run(["hadolint", DOCKERFILE]);
    expect({ code: r.code, out: r.stdout + r.stderr }).toEqual({ code: 0, out: "" });
  });

  test("Dockerfile.dockerignore lets in what the COPYs name and keeps out node_modules, dist, .git, test", async () => {
    for (const stage of await stagesOf(text)) {
      for (const i of stage.instructions.filter((i) => i.keyword === "COPY" && i.from === null)) {
        for (const source of i.args.filter((a) => !a.startsWith("--")).slice(0, -1)) {
          expect(existsSync(join(ROOT, source))).toBe(true);
          expect(`${source} ignored: ${ignored(ignorePatterns, source)}`).toBe(`${source} ignored: false`);
        }
      }
    }
    for (const path of ["node_modules/bun/package.json", "dist/sallyport", ".git/HEAD", "test/app.test.ts", "deploy/kubernetes/gateway.yaml", "src/main.ts"]) {
      expect(`${path}: ${ignored(ignorePatterns, path)}`).toBe(`${path}: ${!path.startsWith("src/")}`);
    }
  });
});

/** The build context as BuildKit would send it: every file under ROOT the ignore file lets through. */
function contextFiles(): string[] {
  const files: string[] = [];
  for (const path of new Bun.Glob("**/*").scanSync({ cwd: ROOT, dot: true, onlyFiles: true })) {
    if (path.startsWith("node_modules/") || path.startsWith(".git/")) continue; // ignored wholesale; no need to walk them
    if (!ignored(ignorePatterns, path)) files.push(path);
  }
  return files;
}

let built: Promise<{ binary: string; context: string }> | undefined;

/**
 * Replays the build stage without Docker: the context (as the ignore file leaves it) is
 * copied where each COPY puts it under WORKDIR, and each RUN line runs there with this Bun
 * first on PATH (the same version as the image, checked above).
 */
function replayBuild(): Promise<{ binary: string; context: string }> {
  built ??= (async () => {
    const [stage] = await stagesOf(text);
    const context = join(scratch, "context");
    for (const file of contextFiles()) {
      mkdirSync(dirname(join(context, file)), { recursive: true });
      cpSync(join(ROOT, file), join(context, file));
    }
    const workdir = stage!.instructions.find((i) => i.keyword === "WORKDIR")!.args[0]!;
    const root = join(scratch, "build-root");
    const at = (p: string) => join(root, p.startsWith("/") ? p : join(workdir, p));
    mkdirSync(at(workdir), { recursive: true });
    // `bun` on PATH: this Bun, whose executable is named bun.exe when it comes from npm.
    const bunDir = join(scratch, "bin");
    mkdirSync(bunDir);
    symlinkSync(process.execPath, join(bunDir, "bun"));
    for (const i of stage!.instructions) {
      if (i.keyword === "COPY") {
        const [dest, ...sources] = i.args.filter((a) => !a.startsWith("--")).reverse();
        for (const source of sources.reverse()) {
          const target = dest!.endsWith("/") ? join(at(dest!), source.split("/").at(-1)!) : at(dest!);
          if (existsSync(join(context, source))) cpSync(join(context, source), target, { recursive: true });
          else throw new Error(`COPY ${source}: not in the build context`);
        }
      } else if (i.keyword === "RUN") {
        const r = await run(["sh", "-c", i.raw], { cwd: at(workdir), env: { PATH: `${bunDir}:${process.env.PATH ?? "/usr/bin:/bin"}`, HOME: process.env.HOME ?? "/tmp" }, timeoutMs: 240_000 });
        if (r.code !== 0) throw new Error(`RUN ${i.raw} exited ${r.code}:\n${r.stdout}${r.stderr}`);
      }
    }
    const copyFrom = (await stagesOf(text)).at(-1)!.instructions.find((i) => i.keyword === "COPY" && i.from === stage!.name)!;
    const source = copyFrom.args.filter((a) => !a.startsWith("--"))[0]!;
    return { binary: join(root, source), context };
  })();
  return built;
}

describe.skipIf(skipWithoutTools)(`the image, assembled without Docker${skipWithoutTools ? ` (skipped: ${TOOLS_MISSING})` : ""}`, () => {
  test("the build stage's RUN lines build a working binary from the context the ignore file leaves", async () => {
    const { binary, context } = await replayBuild();
    expect(statSync(binary).mode & 0o111).not.toBe(0);
    const r = await run([binary, "-version"], { env: childEnv() });
    expect(r.stdout.trim()).toBe(`sallyport ${pkg.version}`);
    // The ignore file kept the host's node_modules and dist out; the install made its own.
    expect(existsSync(join(context, "node_modules"))).toBe(false);
    expect(existsSync(join(context, "dist"))).toBe(false);
  }, 300_000);

  test("ENTRYPOINT + CMD start it (as uid 65532 where root can switch), HEALTHCHECK says healthy, then unhealthy once it is gone", async () => {
    const { binary, context } = await replayBuild();
    const runtime = (await stagesOf(text)).at(-1)!.instructions;
    const entrypoint = execForm(runtime.find((i) => i.keyword === "ENTRYPOINT")!.raw)!;
    let cmd = execForm(runtime.find((i) => i.keyword === "CMD")!.raw)!;
    const healthcheck = execForm(runtime.find((i) => i.keyword === "HEALTHCHECK")!.raw)!;
    expect(entrypoint).toEqual(["/usr/local/bin/sallyport"]);

    // Files the runtime stage COPYs from the context, at their places in the image.
    const image = join(scratch, "image");
    for (const i of runtime.filter((i) => i.keyword === "COPY" && i.from === null)) {
      const [source, dest] = i.args;
      mkdirSync(dirname(join(image, dest!)), { recursive: true });
      cpSync(join(context, source!), join(image, dest!));
    }
    const support = freePort();
    cmd = cmd.map((a) => a.replace("/etc/sallyport/", `${image}/etc/sallyport/`));
    cmd = withFlag(withFlag(withFlag(cmd, "address", "127.0.0.1:0"), "forward-address", "127.0.0.1:0"), "support-listener", `127.0.0.1:${support}`);
    const asNonRoot = process.getuid?.() === 0 && which("setpriv") !== undefined ? ["setpriv", "--reuid=65532", "--regid=65532", "--clear-groups"] : [];
    const proc = Bun.spawn([...asNonRoot, binary, ...cmd], { env: childEnv(), cwd: "/", stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    try {
      const check = () => run(healthcheck.map((a) => a.replace("/127.0.0.1/9911", `/127.0.0.1/${support}`)), { timeoutMs: 5_000 });
      let healthy = -1;
      for (let i = 0; i < 100 && healthy !== 0; i++) {
        healthy = (await check()).code;
        if (healthy !== 0) await Bun.sleep(50);
      }
      expect(healthy).toBe(0);
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
      expect((await check()).code).not.toBe(0);
    } finally {
      proc.kill("SIGKILL");
    }
  }, 300_000);
});
