/**
 * @module
 * The path tree, after Skipper's pathmux (a fork of httptreemux), one node per segment boundary.
 * A lookup walks the request path once, trying at every segment the static child first, then the
 * `:param` child, then the catch-all, and **backtracks** to the next of these whenever the deeper
 * positions yield no route — the visitor decides whether a position's routes accept the request.
 *
 * Two trees can be walked in lockstep (`searchTrees(a, b, …)`): the matcher keeps routes indexed
 * under a host in their own tree and the host-less ones in a shared tree, and walking both at once
 * keeps Skipper's order (tree position first, then weight) over their union without ever copying
 * the shared routes into every host's tree.
 */
import { SliceIndex } from "./slice-index.ts";

const SLASH = 0x2f;

/** A position right after a "/": where the next segment starts. */
export class SegmentNode<L> {
  /** routes whose path ends here: `/`, `/a/` */
  readonly leaves: L[] = [];
  readonly statics = new SliceIndex<SegmentEnd<L>>();
  /** a `:name` segment */
  param: SegmentEnd<L> | undefined;
  /** routes with a free wildcard here: `/a/*rest`, `/a/**` */
  catchAll: L[] | undefined;
}

/** A position right after a segment: the path may end here or continue with a "/". */
export class SegmentEnd<L> {
  /** routes whose path ends here: `/a`, `/a/:id` */
  readonly leaves: L[] = [];
  next: SegmentNode<L> | undefined;
}

/** Inserts `leaf` into `list`, keeping it ordered by `before` and stable for equals. */
export function insertOrdered<L>(list: L[], leaf: L, before: (x: L, y: L) => boolean): void {
  let i = list.length;
  while (i > 0 && before(leaf, list[i - 1]!)) i--;
  list.splice(i, 0, leaf);
}

export class PathTree<L> {
  readonly root = new SegmentNode<L>();
  /** the most segments a lookup can capture, to size the capture buffer */
  maxCaptures = 0;

  constructor(private readonly before: (x: L, y: L) => boolean) {}

  /** Adds a leaf at a position given as segments (see path-pattern.ts `PathPattern.positions`). */
  insert(segments: readonly string[], leaf: L): void {
    let node = this.root;
    let captures = 0;
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i]!;
      const last = i === segments.length - 1;
      if (segment === "") {
        this.#noteCaptures(captures);
        return insertOrdered(node.leaves, leaf, this.before);
      }
      if (segment === "*") {
        this.#noteCaptures(captures + 1);
        return insertOrdered((node.catchAll ??= []), leaf, this.before);
      }
      let end: SegmentEnd<L>;
      if (segment === ":") {
        end = node.param ??= new SegmentEnd();
        captures++;
      } else {
        let existing = node.statics.get(segment);
        if (existing === undefined) node.statics.set(segment, (existing = new SegmentEnd()));
        end = existing;
      }
      if (last) {
        this.#noteCaptures(captures);
        return insertOrdered(end.leaves, leaf, this.before);
      }
      node = end.next ??= new SegmentNode();
    }
  }

  #noteCaptures(n: number): void {
    if (n > this.maxCaptures) this.maxCaptures = n;
  }
}

/** What a lookup asks of its caller. One visitor serves one lookup at a time. */
export interface TreeVisitor<L> {
  /** The first leaf, in priority order over both sorted lists, that accepts the request. */
  pick(a: readonly L[] | undefined, b: readonly L[] | undefined): L | undefined;
  /** Filled by the lookup: start and end offsets in the path of each captured segment. */
  readonly captures: number[];
  /** Set by the lookup to how many captures belong to the leaf it returns. */
  captured: number;
}

/**
 * The first accepted leaf for `path` (cleaned, starting with "/") over trees `a` and `b`, either
 * of which may be absent; its captures are left in the visitor.
 */
export function searchTrees<L>(
  a: SegmentNode<L> | undefined,
  b: SegmentNode<L> | undefined,
  path: string,
  visitor: TreeVisitor<L>,
): L | undefined {
  if (a === undefined && b === undefined) return undefined;
  return searchNode(a, b, path, 1, 0, visitor);
}

function found<L>(leaf: L | undefined, depth: number, visitor: TreeVisitor<L>): L | undefined {
  if (leaf !== undefined) visitor.captured = depth;
  return leaf;
}

function searchNode<L>(
  a: SegmentNode<L> | undefined,
  b: SegmentNode<L> | undefined,
  path: string,
  pos: number,
  depth: number,
  visitor: TreeVisitor<L>,
): L | undefined {
  const length = path.length;
  if (pos >= length) return found(visitor.pick(a?.leaves, b?.leaves), depth, visitor);

  let end = path.indexOf("/", pos);
  if (end < 0) end = length;

  // 1. The static segment.
  const staticA = a?.statics.find(path, pos, end);
  const staticB = b?.statics.find(path, pos, end);
  if (staticA !== undefined || staticB !== undefined) {
    const leaf = searchEnd(staticA, staticB, path, end, depth, visitor);
    if (leaf !== undefined) return leaf;
  }

  // 2. A `:param`, which never matches an empty segment.
  const paramA = a?.param;
  const paramB = b?.param;
  if ((paramA !== undefined || paramB !== undefined) && end > pos) {
    visitor.captures[2 * depth] = pos;
    visitor.captures[2 * depth + 1] = end;
    const leaf = searchEnd(paramA, paramB, path, end, depth + 1, visitor);
    if (leaf !== undefined) return leaf;
  }

  // 3. The catch-all takes the whole (non-empty) rest; there is nothing left to backtrack to here.
  const catchAllA = a?.catchAll;
  const catchAllB = b?.catchAll;
  if (catchAllA === undefined && catchAllB === undefined) return undefined;
  visitor.captures[2 * depth] = pos;
  visitor.captures[2 * depth + 1] = length;
  return found(visitor.pick(catchAllA, catchAllB), depth + 1, visitor);
}

function searchEnd<L>(
  a: SegmentEnd<L> | undefined,
  b: SegmentEnd<L> | undefined,
  path: string,
  pos: number,
  depth: number,
  visitor: TreeVisitor<L>,
): L | undefined {
  if (pos >= path.length) return found(visitor.pick(a?.leaves, b?.leaves), depth, visitor);
  // pos is at a "/": continue below, if either tree goes on.
  const nextA = a?.next;
  const nextB = b?.next;
  if (nextA === undefined && nextB === undefined) return undefined;
  if (path.charCodeAt(pos) !== SLASH) return undefined;
  return searchNode(nextA, nextB, path, pos + 1, depth, visitor);
}
