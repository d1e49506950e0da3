/**
 * @module
 * The live egress policy: the `-egress-allow` / `-egress-deny` rules plus those of the allow and
 * deny files, re-read on the clock (../util/watched-file.ts). A request reads {@link
 * EgressLists.policy}, a built policy swapped whole, so it sees the old lists or the new, never a
 * mix.
 *
 * A file's text is taken whole or not at all. At start a bad line stops the process; later a bad
 * line keeps the file's previous rules, for a list that is half applied would allow what the
 * operator meant to deny. For the same reason an allow file with no entries is refused while no
 * flag allow rule exists: an empty allow list is no allow list (every public address passes),
 * the opposite of what an allow file is for, and also what a poll reads when it catches the file
 * between `>` truncating it and the write that follows. (Replace files by rename to be sure a poll
 * never sees a half-written one.)
 */
import type { ConsolaInstance } from "consola";
import type { Clock } from "../util/clock.ts";
import { WatchedFile } from "../util/watched-file.ts";
import { createEgressPolicy, type EgressPolicy } from "./policy.ts";
import { parseEgressFile, type EgressRule } from "./rules.ts";

export interface EgressListsOptions {
  /** the rules of the flags, fixed for the process's life */
  readonly allow: readonly EgressRule[];
  readonly deny: readonly EgressRule[];
  /** files of one entry per line (see ./rules.ts), re-read every `pollMs` */
  readonly allowFile?: string;
  readonly denyFile?: string;
  /** `-egress-allow-private` */
  readonly allowPrivate: boolean;
  readonly pollMs: number;
  readonly log: ConsolaInstance;
  /** the real clock by default; tests pass a fake one */
  readonly clock?: Clock;
}

type ListName = "allow" | "deny";

export class EgressLists {
  #policy: EgressPolicy;
  /** the rules each file last gave that were accepted */
  readonly #fileRules: Record<ListName, readonly EgressRule[]> = { allow: [], deny: [] };
  readonly #files: WatchedFile[] = [];

  private constructor(readonly options: EgressListsOptions) {
    this.#policy = this.#build();
  }

  /**
   * Reads the files once. Rejects when one cannot be read, or with every `file:line: reason`
   * of the lines they refused.
   */
  static async open(options: EgressListsOptions): Promise<EgressLists> {
    const lists = new EgressLists(options);
    const accepted: [ListName, string, readonly EgressRule[]][] = [];
    const errors: string[] = [];
    for (const [name, path] of [["allow", options.allowFile], ["deny", options.denyFile]] as const) {
      if (path === undefined) continue;
      const onChange = (text: string) => lists.#changed(name, path, text);
      const file = await WatchedFile.open({ path, pollMs: options.pollMs, clock: options.clock, log: options.log, label: `egress ${name} list`, onChange });
      lists.#files.push(file);
      const parsed = lists.#parse(name, path, file.text);
      if ("errors" in parsed) errors.push(...parsed.errors);
      else accepted.push([name, path, parsed.rules]);
    }
    if (errors.length > 0) throw new Error(`invalid egress list entries: ${errors.join("; ")}`);
    for (const [name, path, rules] of accepted) lists.#apply(name, path, rules);
    return lists;
  }

  /** the policy of the lists as last accepted */
  get policy(): EgressPolicy {
    return this.#policy;
  }

  /** Re-reads the files every `pollMs`. */
  start(): void {
    for (const file of this.#files) file.start();
  }

  stop(): void {
    for (const file of this.#files) file.stop();
  }

  #changed(name: ListName, path: string, text: string): void {
    const parsed = this.#parse(name, path, text);
    if ("rules" in parsed) return this.#apply(name, path, parsed.rules);
    const { log } = this.options;
    log.warn(`egress ${name} list ${path} has ${parsed.errors.length} invalid line(s); keeping its previous ${this.#fileRules[name].length} entries`);
    for (const error of parsed.errors) log.warn(error);
  }

  #parse(name: ListName, path: string, text: string): { rules: EgressRule[] } | { errors: string[] } {
    const { rules, errors } = parseEgressFile(text, path);
    if (errors.length > 0) return { errors };
    if (name === "allow" && rules.length === 0 && this.options.allow.length === 0) {
      return { errors: [`${path}: no entries: an empty allow list would allow every destination`] };
    }
    return { rules };
  }

  #apply(name: ListName, path: string, rules: readonly EgressRule[]): void {
    this.#fileRules[name] = rules;
    this.#policy = this.#build();
    this.options.log.info(`egress ${name} list ${path}: ${rules.length} entries`);
  }

  #build(): EgressPolicy {
    const { allow, deny, allowPrivate } = this.options;
    return createEgressPolicy({ allow: [...allow, ...this.#fileRules.allow], deny: [...deny, ...this.#fileRules.deny], allowPrivate });
  }
}
