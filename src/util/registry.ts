/**
 * @module
 * A name → spec lookup built once from an explicit list. Unlike Skipper, which logs and replaces a
 * duplicate, a second spec with a taken name throws: two specs fighting over a name is a
 * programming error, and silently keeping one of them hides it. Filters and predicates share it.
 */

export interface Registry<S extends { readonly name: string }> {
  get(name: string): S | undefined;
  has(name: string): boolean;
  /** Registered names, sorted, for help texts and "did you mean" hints. */
  names(): string[];
}

/** Throws on a duplicate name; `kind` only words the error (`duplicate predicate "Host"`). */
export function createRegistry<S extends { readonly name: string }>(
  specs: Iterable<S>,
  kind = "predicate",
): Registry<S> {
  const byName = new Map<string, S>();
  for (const spec of specs) {
    if (byName.has(spec.name)) throw new Error(`duplicate ${kind} ${JSON.stringify(spec.name)}`);
    byName.set(spec.name, spec);
  }
  return {
    get: (name) => byName.get(name),
    has: (name) => byName.has(name),
    names: () => [...byName.keys()].sort(),
  };
}
