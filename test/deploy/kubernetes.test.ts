/**
 * deploy/kubernetes: every manifest parses, passes the Kubernetes JSON schemas of
 * kubernetes-models (generated from the API's OpenAPI spec; no kubeconform here: it is in
 * neither Debian nor npm), and has no field the API does not know (TypeScript's excess-property
 * check against the same package's types, since the schemas allow unknown fields, as
 * kubeconform does without -strict). Then what the objects must agree on: probes on the
 * support port, the drain within the grace period (no preStop hook: the in-process wait is
 * it), secrets mounted where -credentials-paths looks, selectors that select, policies that let
 * only the gateway out and only Prometheus in to /metrics, hostAliases that routes answer, and
 * the CoreDNS rewrite aimed at the Service.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { BINARY, childEnv, ensureBinary } from "../support/binary.ts";
import { DEPLOY, ROOT, TOOLS, TOOLS_MISSING, durationMs, flagValue, run, skipWithoutTools, withFlag, yamlDocuments } from "./deploy.ts";

type Doc = Record<string, any>;
const DIR = join(DEPLOY, "kubernetes");
const FILES = readdirSync(DIR).filter((f) => f.endsWith(".yaml")).sort();
const docsByFile = new Map<string, Doc[]>();
for (const file of FILES) docsByFile.set(file, await yamlDocuments(join(DIR, file)));
const all = [...docsByFile.values()].flat();

const scratch = mkdtempSync(join(tmpdir(), "sallyport-k8s-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** kubernetes-models' module for an apiVersion and kind: kubernetes-models/apps/v1/Deployment. */
const modelPath = (apiVersion: string, kind: string) => join(TOOLS, "kubernetes-models", apiVersion, `${kind}.js`);
const find = (file: string, kind: string, name?: string): Doc => {
  const doc = docsByFile.get(file)!.find((d) => d.kind === kind && (name === undefined || d.metadata?.name === name));
  if (doc === undefined) throw new Error(`${file}: no ${kind}${name === undefined ? "" : ` ${name}`}`);
  return doc;
};
const podSpec = (workload: Doc): Doc => workload.spec.template.spec;
const selects = (selector: Record<string, string> | undefined, labels: Record<string, string>) =>
  selector !== undefined && Object.entries(selector).every(([k, v]) => labels[k] === v);

test("every file parses into objects with apiVersion, kind and metadata.name", () => {
  expect(FILES).toEqual(["coredns-egress-local.yaml", "gateway.yaml", "networkpolicy.yaml", "sidecar.yaml"]);
  for (const doc of all) {
    expect(typeof doc.apiVersion).toBe("string");
    expect(typeof doc.kind).toBe("string");
    expect(typeof doc.metadata?.name).toBe("string");
  }
});

describe.skipIf(skipWithoutTools)(`schemas${skipWithoutTools ? ` (skipped: ${TOOLS_MISSING})` : ""}`, () => {
  test.each(all.map((doc) => [`${doc.kind} ${doc.metadata?.namespace ?? "-"}/${doc.metadata?.name}`, doc] as const))("%s passes the Kubernetes JSON schema", async (_, doc) => {
    const Model = (await import(modelPath(doc.apiVersion, doc.kind)))[doc.kind];
    expect(() => new Model(doc).validate()).not.toThrow();
  });

  test("the schema check does reject a wrong type (a port as text)", async () => {
    const { Deployment } = await import(modelPath("apps/v1", "Deployment"));
    const broken = structuredClone(find("gateway.yaml", "Deployment"));
    podSpec(broken).containers[0].ports[0].containerPort = "http";
    expect(() => new Deployment(broken).validate()).toThrow(/containerPort must be integer/);
  });

  test("no field the API does not know (TypeScript's excess-property check), and a misspelt one is caught", async () => {
    const lines: string[] = [];
    const imported = new Set<string>();
    all.forEach((doc, i) => {
      const type = `I${doc.kind}`;
      if (!imported.has(type)) lines.push(`import type { ${type} } from ${JSON.stringify(modelPath(doc.apiVersion, doc.kind))};`);
      imported.add(type);
      lines.push(`export const doc${i}: ${type} = ${JSON.stringify(doc, null, 2)};`);
    });
    // The control: unless tsc reports the misspelt field on the next line, the directive itself is an error.
    lines.push(`import type { IIoK8sApiCoreV1Container } from ${JSON.stringify(join(TOOLS, "kubernetes-models/v1/Container.js"))};`);
    lines.push("// @ts-expect-error readinesProbe is not a Container field");
    lines.push(`export const control: IIoK8sApiCoreV1Container = { name: "x", readinesProbe: {} };`);
    writeFileSync(join(scratch, "manifests.ts"), `${lines.join("\n")}\n`);
    const options = { strict: true, noEmit: true, target: "es2022", module: "esnext", moduleResolution: "bundler", skipLibCheck: true, types: [] };
    writeFileSync(join(scratch, "tsconfig.json"), JSON.stringify({ compilerOptions: options, files: ["manifests.ts"] }));
    const r = await run([process.execPath, join(ROOT, "node_modules/typescript/lib/tsc.js"), "-p", scratch], { timeoutMs: 120_000 });
    expect({ code: r.code, out: r.stdout + r.stderr }).toEqual({ code: 0, out: "" });
  }, 120_000);
});

describe("the gateway", () => {
  const deployment = find("gateway.yaml", "Deployment", "sallyport");
  const pod = podSpec(deployment);
  const container = pod.containers[0];
  const args: string[] = container.args;
  const labels: Record<string, string> = deployment.spec.template.metadata.labels;
  const portNumber = (port: number | string) => (typeof port === "number" ? port : container.ports.find((p: Doc) => p.name === port)?.containerPort);

  test("every namespaced object is in the namespace the file creates", () => {
    const namespace = find("gateway.yaml", "Namespace").metadata.name;
    for (const doc of docsByFile.get("gateway.yaml")!.filter((d) => d.kind !== "Namespace")) expect(doc.metadata.namespace).toBe(namespace);
  });

  test("the image is this version, the command line the binary's (no command: the image's ENTRYPOINT)", () => {
    expect(container.image).toBe(`sallyport:${pkg.version}`);
    expect(container.command).toBeUndefined();
    expect(flagValue(args, "forward-address")).toBe(":3128");
  });

  test("readinessProbe GET /readyz and livenessProbe GET /healthz, both on -support-listener's port", () => {
    const support = Number(flagValue(args, "support-listener")!.split(":").at(-1));
    expect(container.readinessProbe.httpGet.path).toBe("/readyz");
    expect(container.livenessProbe.httpGet.path).toBe("/healthz");
    expect(portNumber(container.readinessProbe.httpGet.port)).toBe(support);
    expect(portNumber(container.livenessProbe.httpGet.port)).toBe(support);
  });

  test("the drain fits: grace period > -wait-for-healthcheck-interval + -shutdown-timeout, and liveness never fires within it", () => {
    const wait = durationMs(flagValue(args, "wait-for-healthcheck-interval")!);
    const shutdown = durationMs(flagValue(args, "shutdown-timeout") ?? "30s");
    expect(wait).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(wait + shutdown);
    // Readiness turns 503 within the wait: at least two periods of failureThreshold fit in it.
    const readiness = container.readinessProbe;
    expect(readiness.periodSeconds * readiness.failureThreshold * 1000).toBeLessThan(wait);
    const liveness = container.livenessProbe;
    expect(liveness.periodSeconds * liveness.failureThreshold * 1000).toBeGreaterThanOrEqual(wait + shutdown);
  });

  test("no preStop hook: -wait-for-healthcheck-interval is the sleep one would hold (the image need not have a sleep binary)", () => {
    expect(container.lifecycle?.preStop).toBeUndefined();
    expect(durationMs(flagValue(args, "wait-for-healthcheck-interval")!)).toBeGreaterThan(0);
  });

  test("the pods' scrape annotations name /metrics on -support-listener's port", () => {
    const support = Number(flagValue(args, "support-listener")!.split(":").at(-1));
    const annotations: Record<string, string> = deployment.spec.template.metadata.annotations;
    expect(annotations["prometheus.io/scrape"]).toBe("true");
    expect(Number(annotations["prometheus.io/port"])).toBe(support);
    expect(portNumber("support")).toBe(support);
    expect(annotations["prometheus.io/path"]).toBe("/metrics");
  });

  test("non-root, read-only root filesystem, no privilege escalation, every capability dropped, uid of the image", () => {
    const sc = container.securityContext;
    expect(sc.runAsNonRoot ?? pod.securityContext.runAsNonRoot).toBe(true);
    expect(sc.readOnlyRootFilesystem).toBe(true);
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.capabilities.drop).toEqual(["ALL"]);
    expect(sc.capabilities.add).toBeUndefined();
    expect(pod.securityContext.runAsUser).toBe(65532);
    expect(pod.securityContext.seccompProfile.type).toBe("RuntimeDefault");
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  test("-credentials-paths is where the Secret volume is mounted, -routes-file in the ConfigMap's mount", () => {
    const mount = (path: string) => container.volumeMounts.find((m: Doc) => m.mountPath === path);
    const volume = (name: string) => pod.volumes.find((v: Doc) => v.name === name);
    const credentials = mount(flagValue(args, "credentials-paths")!);
    expect(volume(credentials.name).secret.secretName).toBe("sallyport-credentials");
    expect(credentials.readOnly).toBe(true);
    expect(credentials.subPath).toBeUndefined(); // a subPath mount would never see a rotated Secret
    const routesFile = flagValue(args, "routes-file")!;
    const routesMount = mount(routesFile.slice(0, routesFile.lastIndexOf("/")));
    const configMap = find("gateway.yaml", "ConfigMap", volume(routesMount.name).configMap.name);
    expect(Object.keys(configMap.data)).toContain(routesFile.split("/").at(-1)!);
  });

  test("the Service and the PodDisruptionBudget select the pods; the Service leaves the support port out", () => {
    const service = find("gateway.yaml", "Service", "sallyport");
    expect(selects(service.spec.selector, labels)).toBe(true);
    expect(selects(deployment.spec.selector.matchLabels, labels)).toBe(true);
    const pdb = find("gateway.yaml", "PodDisruptionBudget");
    expect(selects(pdb.spec.selector.matchLabels, labels)).toBe(true);
    expect(pdb.spec.minAvailable).toBeLessThan(deployment.spec.replicas);
    const targets = service.spec.ports.map((p: Doc) => portNumber(p.targetPort));
    expect(targets.sort()).toEqual([3128, 9090]);
  });
});

/** The eskip of a ConfigMap key, checked by the binary; returns its routes as the parser's AST. */
async function checkedRoutes(source: string): Promise<Doc[]> {
  await ensureBinary();
  const file = join(scratch, `routes-${Math.random().toString(36).slice(2)}.eskip`);
  writeFileSync(file, source);
  const check = await run([BINARY, "check", file], { env: childEnv() });
  expect({ code: check.code, stderr: check.stderr }).toEqual({ code: 0, stderr: "" });
  const proc = Bun.spawn([BINARY, "eskip", "parse"], { env: childEnv(), stdin: new Blob([source]), stdout: "pipe" });
  return JSON.parse(await new Response(proc.stdout).text());
}
const hostPatterns = (routes: Doc[]) => routes.flatMap((r) => r.predicates.filter((p: Doc) => p.name === "Host").map((p: Doc) => new RegExp(p.args[0])));
const secretsUsed = (routes: Doc[]) => routes.flatMap((r) => r.filters.filter((f: Doc) => f.name === "bearerinjector").map((f: Doc) => f.args[0] as string));

describe("routes shipped in ConfigMaps", () => {
  test.each([["gateway.yaml", "sallyport"], ["sidecar.yaml", "sallyport"]])("%s: the routes pass sallyport check and name secrets under -credentials-paths", async (file, containerName) => {
    const workload = find(file, "Deployment");
    const containers = [...(podSpec(workload).initContainers ?? []), ...podSpec(workload).containers];
    const proxy = containers.find((c: Doc) => c.name === containerName);
    const credentialsPath = flagValue(proxy.args, "credentials-paths")!;
    const routes = await checkedRoutes(find(file, "ConfigMap").data["routes.eskip"]);
    expect(secretsUsed(routes).length).toBeGreaterThan(0);
    for (const secret of secretsUsed(routes)) expect(secret).toStartWith(`${credentialsPath}/`);
  });
});

describe("the proxy containers' command lines", () => {
  test.each([["gateway.yaml", "sallyport"], ["sidecar.yaml", "sallyport"]])("%s: the args pass sallyport check (the Secret's keys and the ConfigMap's routes as files)", async (file, containerName) => {
    await ensureBinary();
    const workload = find(file, "Deployment");
    const proxy = [...(podSpec(workload).initContainers ?? []), ...podSpec(workload).containers].find((c: Doc) => c.name === containerName);
    const dir = mkdtempSync(join(scratch, "args-"));
    const source: string = find(file, "ConfigMap").data["routes.eskip"];
    writeFileSync(join(dir, "routes.eskip"), source);
    const credentials = join(dir, "credentials");
    mkdirSync(credentials);
    for (const m of source.matchAll(/bearerinjector\("([^"]+)"\)/g)) writeFileSync(join(credentials, m[1]!.split("/").at(-1)!), "token\n");
    const args = withFlag(withFlag(proxy.args, "routes-file", join(dir, "routes.eskip")), "credentials-paths", credentials);
    const r = await run([BINARY, "check", ...args], { env: childEnv() });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
  });
});

describe("the sidecar", () => {
  const workload = find("sidecar.yaml", "Deployment");
  const pod = podSpec(workload);
  const sidecar = pod.initContainers.find((c: Doc) => c.name === "sallyport");
  const app = pod.containers.find((c: Doc) => c.name === "app");

  test("a native sidecar: restartable init container, the app starts once the startupProbe sees /readyz", () => {
    expect(sidecar.restartPolicy).toBe("Always");
    expect(sidecar.startupProbe.httpGet.path).toBe("/readyz");
    expect(sidecar.readinessProbe.httpGet.path).toBe("/readyz");
    expect(sidecar.livenessProbe.httpGet.path).toBe("/healthz");
  });

  test("hostAliases put each name on 127.0.0.1, where the proxy listens, and a route answers for it", async () => {
    const address = flagValue(sidecar.args, "address")!;
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    const port = address.split(":")[1];
    const patterns = hostPatterns(await checkedRoutes(find("sidecar.yaml", "ConfigMap").data["routes.eskip"]));
    const names: string[] = pod.hostAliases.flatMap((a: Doc) => (expect(a.ip).toBe("127.0.0.1"), a.hostnames));
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(`${name}: ${patterns.some((p) => p.test(`${name}:${port}`))}`).toBe(`${name}: true`);
    // The app is told those names, with the proxy's port.
    for (const env of app.env) expect(names.map((n) => `http://${n}:${port}`)).toContain(env.value);
  });

  test("only the sidecar mounts the secrets", () => {
    const secretVolumes = pod.volumes.filter((v: Doc) => v.secret !== undefined).map((v: Doc) => v.name);
    expect(secretVolumes.length).toBe(1);
    expect(sidecar.volumeMounts.map((m: Doc) => m.name)).toContain(secretVolumes[0]);
    expect((app.volumeMounts ?? []).map((m: Doc) => m.name)).not.toContain(secretVolumes[0]);
  });
});

describe("network policies: only the gateway leaves the cluster", () => {
  const policies = docsByFile.get("networkpolicy.yaml")!;
  const gateway = find("gateway.yaml", "Deployment", "sallyport");
  const gatewayLabels = gateway.spec.template.metadata.labels;
  const gatewayNs = gateway.metadata.namespace;
  const proxyPorts = podSpec(gateway).containers[0].ports.filter((p: Doc) => p.name !== "support").map((p: Doc) => p.containerPort).sort();
  const allowsDns = (rule: Doc) => rule.to.every((t: Doc) => t.podSelector?.matchLabels?.["k8s-app"] === "kube-dns") && rule.ports.every((p: Doc) => p.port === 53);
  const allowsProxy = (rule: Doc) =>
    rule.to.every((t: Doc) => t.namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"] === gatewayNs && selects(t.podSelector?.matchLabels, gatewayLabels)) &&
    rule.ports.map((p: Doc) => p.port).sort().join() === proxyPorts.join();

  test("the gateway pods may reach public addresses; the rest of their namespace nothing", () => {
    const own = policies.find((p) => p.metadata.namespace === gatewayNs && selects(p.spec.podSelector.matchLabels, gatewayLabels))!;
    expect(own.spec.policyTypes).toEqual(["Ingress", "Egress"]);
    expect(own.spec.egress.some((rule: Doc) => rule.to.some((t: Doc) => t.ipBlock?.cidr === "0.0.0.0/0"))).toBe(true);
    expect(own.spec.ingress[0].ports.map((p: Doc) => p.port).sort()).toEqual(proxyPorts);
    const rest = policies.find((p) => p.metadata.namespace === gatewayNs && Object.keys(p.spec.podSelector).length === 0)!;
    expect(rest.spec.policyTypes).toEqual(["Egress"]);
    expect(rest.spec.egress).toBeUndefined();
  });

  test("Prometheus, and nothing else in the cluster, reaches the support port (/metrics)", () => {
    const own = policies.find((p) => p.metadata.namespace === gatewayNs && selects(p.spec.podSelector.matchLabels, gatewayLabels))!;
    const support = Number(flagValue(podSpec(gateway).containers[0].args, "support-listener")!.split(":").at(-1));
    const rules: Doc[] = own.spec.ingress.filter((rule: Doc) => rule.ports.some((p: Doc) => p.port === support));
    expect(rules).toHaveLength(1);
    expect(rules[0]!.ports.map((p: Doc) => p.port)).toEqual([support]);
    // One peer with both selectors (pods matching in namespaces matching), neither empty: two
    // peers, or an empty selector, would let far more in.
    expect(rules[0]!.from).toHaveLength(1);
    const [peer] = rules[0]!.from;
    expect(peer.ipBlock).toBeUndefined();
    expect(peer.namespaceSelector.matchLabels).toEqual({ "kubernetes.io/metadata.name": "monitoring" });
    expect(peer.podSelector.matchLabels).toEqual({ "app.kubernetes.io/name": "prometheus" });
    // The rule for everyone in the cluster is for the proxy ports alone.
    const open = own.spec.ingress.filter((rule: Doc) => rule.from.some((f: Doc) => f.namespaceSelector !== undefined && Object.keys(f.namespaceSelector).length === 0 && f.podSelector === undefined));
    expect(open).toHaveLength(1);
    expect(open[0].ports.map((p: Doc) => p.port)).not.toContain(support);
  });

  test("application pods reach the gateway's proxy ports and DNS, and nothing else", () => {
    const apps = policies.filter((p) => p.metadata.namespace !== gatewayNs);
    expect(apps.length).toBeGreaterThan(0);
    for (const policy of apps) {
      expect(policy.spec.podSelector).toEqual({});
      expect(policy.spec.policyTypes).toEqual(["Egress"]);
      const rules: Doc[] = policy.spec.egress;
      expect(rules.some(allowsProxy)).toBe(true);
      for (const rule of rules) expect(allowsProxy(rule) || allowsDns(rule)).toBe(true);
    }
  });
});

describe("CoreDNS: *.egress.local to the gateway", () => {
  const corefile: string = find("coredns-egress-local.yaml", "ConfigMap", "coredns").data.Corefile;
  const service = find("gateway.yaml", "Service", "sallyport");
  const rewrite = /^\s*rewrite name regex (\S+) (\S+)\s*$/m.exec(corefile);

  test("the Linkerd POC's rewrite line, aimed at the gateway Service, inside the .:53 block", () => {
    expect(rewrite?.[1]).toBe("(.*)\\.egress\\.local");
    expect(rewrite?.[2]).toBe(`${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local`);
    expect(corefile.indexOf(".:53 {")).toBeLessThan(corefile.indexOf("rewrite name regex"));
    expect(service.spec.ports.find((p: Doc) => p.port === 80)).toBeDefined();
  });

  test("a name it rewrites is one a gateway route answers for (on port 80, as plain HTTP sends it)", async () => {
    const name = "api.github.com.egress.local";
    expect(new RegExp(rewrite![1]!).test(name)).toBe(true);
    const patterns = hostPatterns(await checkedRoutes(find("gateway.yaml", "ConfigMap").data["routes.eskip"]));
    expect(patterns.some((p) => p.test(name))).toBe(true);
  });
});
