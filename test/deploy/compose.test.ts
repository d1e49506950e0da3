/**
 * deploy/compose: the file parses, passes Compose's own validation (`docker-compose config`,
 * Debian's docker-compose 1.29, which needs no Docker engine for it), and isolates as the seeds
 * do: the application only on an `internal: true` network, sallyport on it and on one with a
 * way out, the application's http_proxy/https_proxy at sallyport's forward port.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BINARY, childEnv, ensureBinary } from "../support/binary.ts";
import { DEPLOY, flagValue, run, which, withFlag, yamlDocuments } from "./deploy.ts";

const DIR = join(DEPLOY, "compose");
const FILE = join(DIR, "compose.yaml");
const [compose] = await yamlDocuments(FILE);
const { services, networks } = compose as { services: Record<string, any>; networks: Record<string, any> };
const internal = (name: string) => networks[name]?.internal === true;

const scratch = mkdtempSync(join(tmpdir(), "sallyport-compose-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

test("two services, an internal network and one with a way out", () => {
  expect(Object.keys(services).sort()).toEqual(["app", "sallyport"]);
  expect(Object.keys(networks).filter(internal).length).toBe(1);
  expect(Object.keys(networks).filter((n) => !internal(n)).length).toBe(1);
});

test("the application is only on internal networks; sallyport is on the internal one and the outside one", () => {
  const appNets: string[] = services.app.networks;
  expect(appNets.length).toBeGreaterThan(0);
  for (const n of appNets) expect(`${n} internal: ${internal(n)}`).toBe(`${n} internal: true`);
  const proxyNets: string[] = services.sallyport.networks;
  expect(proxyNets.some(internal)).toBe(true);
  expect(proxyNets.some((n) => !internal(n))).toBe(true);
  expect(appNets.every((n) => proxyNets.includes(n))).toBe(true);
  expect(services.app.network_mode).toBeUndefined();
  expect(services.app.ports).toBeUndefined();
});

test("http_proxy and https_proxy (both cases) point at sallyport's forward port; no_proxy does not cover route names", () => {
  const port = flagValue(services.sallyport.command, "forward-address")!.split(":").at(-1);
  for (const name of ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"]) expect(services.app.environment[name]).toBe(`http://sallyport:${port}`);
  expect(String(services.app.environment.no_proxy ?? "")).not.toContain("localhost");
  expect(services.app.depends_on.sallyport.condition).toBe("service_healthy");
});

test("sallyport: the image of deploy/container, read-only, no capabilities, a stop grace period above the drain", () => {
  const build = services.sallyport.build;
  expect(existsSync(resolve(DIR, build.context, build.dockerfile))).toBe(true);
  expect(resolve(DIR, build.context, build.dockerfile)).toBe(join(DEPLOY, "container/Dockerfile"));
  expect(services.sallyport.read_only).toBe(true);
  expect(services.sallyport.cap_drop).toEqual(["ALL"]);
  expect(Number.parseInt(services.sallyport.stop_grace_period)).toBeGreaterThan(30);
});

test("sallyport's command passes sallyport check with the mounted routes file; its secret is the Compose secret's file", async () => {
  await ensureBinary();
  const secret = join(scratch, "github-token");
  writeFileSync(secret, "token\n");
  const args = withFlag(withFlag(services.sallyport.command, "routes-file", join(DIR, "routes.eskip")), "credentials-paths", secret);
  expect(services.sallyport.volumes).toContain("./routes.eskip:/etc/sallyport/routes.eskip:ro");
  const r = await run([BINARY, "check", ...args], { env: childEnv() });
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
  const secrets: string[] = services.sallyport.secrets;
  expect(flagValue(services.sallyport.command, "credentials-paths")).toBe(`/run/secrets/${secrets[0]}`);
  expect(await Bun.file(join(DIR, "routes.eskip")).text()).toContain(`bearerinjector("/run/secrets/${secrets[0]}")`);
});

const composeTool = which("docker-compose");
describe.skipIf(composeTool === undefined)(`docker-compose config${composeTool === undefined ? " (skipped: docker-compose not installed; apt-get install docker-compose, as .ci/run does)" : ""}`, () => {
  const validate = (file: string) => run([composeTool!, "--project-directory", DIR, "-f", file, "config", "-q"], { cwd: DIR });

  test("accepts the file", async () => {
    const r = await validate(FILE);
    expect({ code: r.code, out: (r.stdout + r.stderr).trim() }).toEqual({ code: 0, out: "" });
  });

  test("rejects a broken copy (a misspelt option), so acceptance means something", async () => {
    const broken = join(scratch, "compose.yaml");
    writeFileSync(broken, (await Bun.file(FILE).text()).replace("read_only: true", "read_onyl: true"));
    const r = await validate(broken);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("read_onyl");
  });
});
