/**
 * @module
 * The live egress policy: the `-egress-allow` / `-egress-deny` rules plus those of the allow and
 * deny files, and the roles file (./roles.ts), re-read on the clock (../util/watched-file.ts). A
 * request reads {@link EgressLists.policy}, or {@link EgressLists.policyFor} its client, a built
 * policy swapped whole, so it sees the old lists or the new, never a mix. With roles, every
 * role's policy is rebuilt whenever a list or the roles change.
 *
 * A file's text is taken whole or not at all, the roles file's too. At start a bad line stops the
 * process; later a bad line keeps the file's previous rules (or roles), for a list that is half
 * applied would allow what the operator meant to deny. For the same reason an allow file with no
 * entries is refused while no flag allow rule exists: an empty allow list is no allow list (every
 * public address passes), the opposite of what an allow file is for, and also what a poll reads
 * when it catches the file between `>` truncating it and the write that follows. (Replace files
 * by rename to be sure a poll never sees a half-written one.)
 */
import type { ConsolaInstance } from "consola/core";
import type { Clock } from "../util/clock.ts";
import { WatchedFile } from "../util/watched-file.ts";
import { createEgressPolicy, type EgressPolicy, type EgressPolicyOptions } from "./policy.ts";
import { createRolePolicies, parseEgressRoles, type ClientPolicy, type EgressClient, type EgressMode, type EgressRole } from "./roles.ts";
import { parseEgressFile, type EgressRule } from "./rules.ts";

export interface EgressListsOptions {
  /** the rules of the flags, fixed for the process's life */
  readonly allow: readonly EgressRule[];
  readonly deny: readonly EgressRule[];
  /** files of one entry per line (see ./rules.ts), re-read every `pollMs` */
  readonly allowFile?: string;
  readonly denyFile?: string;
  /** `-egress-roles-file` (see ./roles.ts), re-read every `pollMs` */
  readonly rolesFile?: string;
  /** `-egress-allow-private` */
  readonly allowPrivate: boolean;
  /** `-egress-mode`: report lets what the rules deny through, as would-deny; a role's `mode` line wins */
  readonly mode?: EgressMode;
  readonly pollMs: number;
  readonly log: ConsolaInstance;
  /** the real clock by default; tests pass a fake one */
  readonly clock?: Clock;
}

type ListName = "allow" | "deny";

/** A file's text as read: how to apply it, or why it is refused. */
type Reading = { readonly apply: () => void } | { readonly errors: readonly string[] };

/** One watched file: what it is called in messages, and how its text is read. */
interface Source {
  readonly label: string;
  readonly path: string;
  read(text: string): Reading;
  /** what a refused change keeps, for the warning: `3 entries` */
  kept(): string;
}

/** What a request reads, built from the lists and roles as last accepted and swapped whole. */
interface Built {
  readonly policy: EgressPolicy;
  /** one prebuilt answer without roles, the client's role's with them */
  readonly choose: (client: EgressClient) => ClientPolicy;
}

export class EgressLists {
  #built: Built;
  /** the rules each file last gave that were accepted */
  readonly #fileRules: Record<ListName, readonly EgressRule[]> = { allow: [], deny: [] };
  /** the roles the roles file last gave that were accepted; undefined without one */
  #roles: readonly EgressRole[] | undefined;
  readonly #files: WatchedFile[] = [];

  private constructor(readonly options: EgressListsOptions) {
    this.#built = this.#build();
  }

  /**
   * Reads the files once. Rejects when one cannot be read, or with every `file:line: reason`
   * of the lines they refused.
   */
  static async open(options: EgressListsOptions): Promise<EgressLists> {
    const lists = new EgressLists(options);
    const accepted: (() => void)[] = [];
    const errors: string[] = [];
    for (const source of lists.#sources()) {
      const onChange = (text: string) => lists.#changed(source, text);
      const file = await WatchedFile.open({ path: source.path, pollMs: options.pollMs, clock: options.clock, log: options.log, label: source.label, onChange });
      lists.#files.push(file);
      const reading = source.read(file.text);
      if ("errors" in reading) errors.push(...reading.errors);
      else accepted.push(reading.apply);
    }
    if (errors.length > 0) throw new Error(`invalid egress list entries: ${errors.join("; ")}`);
    for (const apply of accepted) apply();
    return lists;
  }

  /** the policy of the lists as last accepted, without roles */
  get policy(): EgressPolicy {
    return this.#built.policy;
  }

  /**
   * The policy for a client, and its role: without a roles file the lists' policy (role
   * undefined), with one the policy of the role the client is given (`default` when none picks it).
   */
  policyFor(client: EgressClient): ClientPolicy {
    return this.#built.choose(client);
  }

  /** Reads the files now (SIGHUP). */
  async reread(): Promise<void> {
    await Promise.all(this.#files.map((file) => file.reread()));
  }

  /** Re-reads the files every `pollMs`. */
  start(): void {
    for (const file of this.#files) file.start();
  }

  stop(): void {
    for (const file of this.#files) file.stop();
  }

  #sources(): Source[] {
    const { allowFile, denyFile, rolesFile } = this.options;
    const sources: Source[] = [];
    if (allowFile !== undefined) sources.push(this.#listSource("allow", allowFile));
    if (denyFile !== undefined) sources.push(this.#listSource("deny", denyFile));
    if (rolesFile !== undefined) sources.push(this.#rolesSource(rolesFile));
    return sources;
  }

  #listSource(name: ListName, path: string): Source {
    return {
      label: `egress ${name} list`,
      path,
      read: (text) => {
        const parsed = this.#parseList(name, path, text);
        return "errors" in parsed ? parsed : { apply: () => this.#applyList(name, path, parsed.rules) };
      },
      kept: () => `${this.#fileRules[name].length} entries`,
    };
  }

  #rolesSource(path: string): Source {
    return {
      label: "egress roles",
      path,
      read: (text) => {
        const parsed = parseEgressRoles(text, path);
        return "errors" in parsed ? parsed : { apply: () => this.#applyRoles(path, parsed.roles) };
      },
      kept: () => `${this.#roles?.length ?? 0} roles`,
    };
  }

  #changed(source: Source, text: string): void {
    const reading = source.read(text);
    if ("apply" in reading) return reading.apply();
    const { log } = this.options;
    log.warn(`${source.label} ${source.path} has ${reading.errors.length} invalid line(s); keeping its previous ${source.kept()}`);
    for (const error of reading.errors) log.warn(error);
  }

  #parseList(name: ListName, path: string, text: string): { rules: EgressRule[] } | { errors: string[] } {
    const { rules, errors } = parseEgressFile(text, path);
    if (errors.length > 0) return { errors };
    if (name === "allow" && rules.length === 0 && this.options.allow.length === 0) {
      return { errors: [`${path}: no entries: an empty allow list would allow every destination`] };
    }
    return { rules };
  }

  #applyList(name: ListName, path: string, rules: readonly EgressRule[]): void {
    this.#fileRules[name] = rules;
    this.#built = this.#build();
    this.options.log.info(`egress ${name} list ${path}: ${rules.length} entries`);
  }

  #applyRoles(path: string, roles: readonly EgressRole[]): void {
    this.#roles = roles;
    this.#built = this.#build();
    this.options.log.info(`egress roles ${path}: ${roles.length} roles (${roles.map((role) => role.name).join(", ")})`);
  }

  /** The lists' policy and, with roles, every role's. */
  #build(): Built {
    const { allow, deny, allowPrivate, mode = "enforce" } = this.options;
    const global: EgressPolicyOptions = { allow: [...allow, ...this.#fileRules.allow], deny: [...deny, ...this.#fileRules.deny], allowPrivate };
    const policy = createEgressPolicy(global);
    // Report mode never opens what the guard keeps shut: it decides with the guard alone.
    const guard = createEgressPolicy({ allowPrivate });
    if (this.#roles !== undefined) return { policy, choose: createRolePolicies(this.#roles, global, mode, guard) };
    const unroled: ClientPolicy = Object.freeze({ policy, role: undefined, report: mode === "report" ? guard : undefined });
    return { policy, choose: () => unroled };
  }
}
