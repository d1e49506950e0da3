import type { FilterSpec } from "./types.ts";

/** Filters by name; a second spec with a taken name is a programming error, not a silent override. */
export class FilterRegistry {
  readonly #specs = new Map<string, FilterSpec>();

  constructor(specs: Iterable<FilterSpec> = []) {
    for (const spec of specs) this.register(spec);
  }

  register(spec: FilterSpec): void {
    if (this.#specs.has(spec.name)) throw new Error(`filter ${spec.name} is registered twice`);
    this.#specs.set(spec.name, spec);
  }

  get(name: string): FilterSpec | undefined {
    return this.#specs.get(name);
  }
}
