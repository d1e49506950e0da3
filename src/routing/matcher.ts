/**
 * @module
 * Finds the route for a request with Skipper's priority rules (routing/matcher.go):
 *
 * 1. Routes with `Path`/`PathSubtree` live in a path tree. The most specific position wins —
 *    static segment, then `:param`, then catch-all — backtracking to less specific positions
 *    when none of a position's routes accepts the request (path-tree.ts).
 * 2. Routes without a tree predicate ("root leaves") are tried only when the tree gave nothing,
 *    so `Path("/x")` beats a catch-all route of any weight.
 * 3. Within one position, and among the root leaves, routes are ordered by descending weight,
 *    ties in definition order; the first whose predicates all match wins.
 *
 * Lookups never scan all routes. Besides the tree, routes are indexed by the exact host their
 * `Host` predicate pins (`exactHost`, e.g. `^api\.example\.com(:\d+)?$`): each such host has its own
 * tree and root leaves, and a request walks its host's part together with the shared part (routes
 * without an indexable host) in lockstep, merging candidates by (position, weight, order) — the
 * order Skipper would give their union. Routes pinned to other hosts could never match, so
 * leaving them out does not change the result. The `Host` expression still runs for every
 * candidate; the index only narrows.
 *
 * The request path must already be cleaned (see `MatchRequest.path`). `match` is synchronous and
 * not reentrant: predicates must not route.
 */
import type { MatchRequest, Predicate } from "../predicates/types.ts";
import type { PathPattern } from "./path-pattern.ts";
import { EMPTY_PARAMS, nameParams, parsePathPattern } from "./path-pattern.ts";
import type { TreeVisitor } from "./path-tree.ts";
import { PathTree, insertOrdered, searchTrees } from "./path-tree.ts";
import { SliceIndex } from "./slice-index.ts";
import { runSteps } from "../util/steps.ts";

export interface MatcherEntry<T> {
  readonly value: T;
  readonly predicates: readonly Predicate[];
}

export interface MatchResult<T> {
  readonly value: T;
  /** Path params; shared and frozen when there are none, so treat it as read-only. */
  readonly params: Record<string, string>;
}

export interface Matcher<T> {
  match(req: MatchRequest): MatchResult<T> | undefined;
}

export interface MatcherRejection<T> {
  readonly value: T;
  readonly error: Error;
}

type Check = Predicate & { match(req: MatchRequest): boolean };

interface Leaf<T> {
  /** definition order, the tie-breaker between equal weights */
  readonly order: number;
  readonly weight: number;
  readonly checks: readonly Check[];
  readonly pattern: PathPattern | undefined;
  readonly value: T;
  /** the result when there are no params to name, built once */
  readonly plain: MatchResult<T>;
}

/** Higher weight first; equal weights keep definition order. */
const before = <T>(x: Leaf<T>, y: Leaf<T>) => x.weight > y.weight || (x.weight === y.weight && x.order < y.order);

/** The routes of one host (or the shared, host-less ones). */
class RouteGroup<T> {
  readonly tree = new PathTree<Leaf<T>>(before);
  readonly rootLeaves: Leaf<T>[] = [];
}

/**
 * Builds a matcher. Routes whose path predicates cannot be placed are left out and returned in
 * `rejected` (`multiple tree predicates`, `free wildcard param should be last`, …); the others
 * are served.
 */
export function createMatcher<T>(entries: readonly MatcherEntry<T>[]): MatcherBuild<T> {
  return runSteps(matcherSteps(entries));
}

export interface MatcherBuild<T> {
  matcher: Matcher<T>;
  rejected: MatcherRejection<T>[];
}

/** {@link createMatcher} one route at a time: it yields after each, so a driver may pause. */
export function* matcherSteps<T>(entries: readonly MatcherEntry<T>[]): Generator<void, MatcherBuild<T>> {
  const shared = new RouteGroup<T>();
  const byHost = new SliceIndex<RouteGroup<T>>(true);
  const rejected: MatcherRejection<T>[] = [];

  for (let order = 0; order < entries.length; order++) {
    const { value, predicates } = entries[order]!;
    let leaf: Leaf<T> | undefined;
    try {
      leaf = createLeaf(value, predicates, order);
    } catch (e) {
      rejected.push({ value, error: e as Error });
    }
    if (leaf) {
      const host = predicates.find((p) => p.exactHost !== undefined)?.exactHost;
      let group = host === undefined ? shared : byHost.get(host);
      if (group === undefined) byHost.set(host!, (group = new RouteGroup<T>()));
      if (leaf.pattern === undefined) insertOrdered(group.rootLeaves, leaf, before);
      else for (const segments of leaf.pattern.positions) group.tree.insert(segments, leaf);
    }
    yield;
  }

  return { matcher: new RouteMatcher(shared, byHost), rejected };
}

function createLeaf<T>(value: T, predicates: readonly Predicate[], order: number): Leaf<T> {
  const tree = predicates.filter((p) => p.path !== undefined);
  if (tree.length > 1) throw new Error("multiple tree predicates");
  const path = tree[0]?.path;
  // Skipper keeps an empty Path("") as "no path condition" (`r.path == ""`).
  const pattern = path && path.pattern !== "" ? parsePathPattern(path.pattern, path.subtree) : undefined;

  let weight = 0;
  const groups = new Set<string>();
  for (const p of predicates) {
    if (p.weightGroup !== undefined) {
      if (groups.has(p.weightGroup)) continue;
      groups.add(p.weightGroup);
    }
    weight += p.weight;
  }
  const checks = predicates.filter((p): p is Check => p.match !== undefined);
  const plain: MatchResult<T> = Object.freeze({ value, params: EMPTY_PARAMS });
  return { order, weight, checks, pattern, value, plain };
}

function accepts<T>(leaf: Leaf<T>, req: MatchRequest): boolean {
  const checks = leaf.checks;
  for (let i = 0; i < checks.length; i++) if (!checks[i]!.match(req)) return false;
  return true;
}

const NO_LEAVES: readonly never[] = [];

class RouteMatcher<T> implements Matcher<T>, TreeVisitor<Leaf<T>> {
  readonly captures: number[];
  captured = 0;
  #req: MatchRequest | undefined;

  constructor(
    private readonly shared: RouteGroup<T>,
    private readonly byHost: SliceIndex<RouteGroup<T>>,
  ) {
    let maxCaptures = shared.tree.maxCaptures;
    for (const group of byHost.values()) maxCaptures = Math.max(maxCaptures, group.tree.maxCaptures);
    // Sized once, so a lookup never grows it.
    this.captures = new Array<number>(2 * maxCaptures).fill(0);
  }

  match(req: MatchRequest): MatchResult<T> | undefined {
    const own = this.byHost.size === 0 ? undefined : this.#groupOf(req.host);
    const path = req.path === "" ? "/" : req.path;
    this.#req = req;
    try {
      const leaf = searchTrees(own?.tree.root, this.shared.tree.root, path, this);
      if (leaf !== undefined) {
        if (leaf.pattern === undefined || leaf.pattern.paramNames.length === 0) return leaf.plain;
        return { value: leaf.value, params: nameParams(leaf.pattern, path, this.captures, this.captured) };
      }
      return this.pick(own?.rootLeaves, this.shared.rootLeaves)?.plain;
    } finally {
      this.#req = undefined;
    }
  }

  /** Merges two weight-ordered lists on the fly and returns the first leaf that accepts. */
  pick(a: readonly Leaf<T>[] | undefined, b: readonly Leaf<T>[] | undefined): Leaf<T> | undefined {
    const req = this.#req!;
    const listA = a ?? NO_LEAVES;
    const listB = b ?? NO_LEAVES;
    let i = 0;
    let j = 0;
    while (i < listA.length || j < listB.length) {
      const leaf =
        j >= listB.length || (i < listA.length && before(listA[i]!, listB[j]!)) ? listA[i++]! : listB[j++]!;
      if (accepts(leaf, req)) return leaf;
    }
    return undefined;
  }

  /** The group indexed under the request's host name: port cut off, case ignored, no copy made. */
  #groupOf(host: string): RouteGroup<T> | undefined {
    // An IPv6 literal is never an exactHost.
    if (host.charCodeAt(0) === 0x5b /* [ */) return undefined;
    const colon = host.indexOf(":");
    return this.byHost.find(host, 0, colon < 0 ? host.length : colon);
  }
}
