// Delta debugging (ddmin, Zeller and Hildebrandt, "Simplifying and Isolating Failure-Inducing
// Input", IEEE TSE 2002), over any list of items, with an exact worst-case count of the tests it
// may still need (for "probe n of at most m"). The caller guarantees that the whole list fails
// and the empty list passes; the result is 1-minimal: it fails, and removing any one item from
// it does not. Deterministic: the same items and the same answers give the same result.

/** 'fail' is the failure being isolated; anything else ('pass', a different failure) is not it. */
export type Outcome = 'fail' | 'pass' | 'unresolved';

export interface DdminState {
  /** Items in the current failing set. */
  size: number;
  /** How many chunks it is cut into this round. */
  granularity: number;
  /** The most tests ddmin may still run from here, whatever the answers. */
  worstRemaining: number;
}

export interface DdminHooks<T> {
  /** Called at the start of every round, with the current failing set. */
  onRound?: (state: DdminState, current: readonly T[]) => void;
}

/** The sizes of n contiguous chunks of k items (as even as can be, larger ones last). */
export function chunkSizes(k: number, n: number): number[] {
  const sizes: number[] = [];
  let start = 0;
  for (let i = 0; i < n; i++) {
    const stop = start + Math.floor((k - start) / (n - i));
    sizes.push(stop - start);
    start = stop;
  }
  return sizes;
}

function split<T>(items: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  let start = 0;
  for (const size of chunkSizes(items.length, n)) {
    out.push(items.slice(start, start + size));
    start += size;
  }
  return out;
}

const EXACT_BOUND_LIMIT = 400;
const memo = new Map<number, number>();

/**
 * The most tests ddmin runs from a failing set of k items at granularity n, over every possible
 * sequence of answers. Exact up to 400 items; past that Zeller's k^2 + 3k.
 */
export function worstCaseTests(k: number, n = 2): number {
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`worstCaseTests: k must be a non-negative integer, got ${k}`);
  if (k < 2) return 0;
  if (k > EXACT_BOUND_LIMIT) return k * k + 3 * k;
  const g = Math.max(2, Math.min(n, k));
  const key = k * 1024 + g;
  const known = memo.get(key);
  if (known !== undefined) return known;
  const sizes = chunkSizes(k, g);
  let worst = 0;
  sizes.forEach((s, i) => { worst = Math.max(worst, i + 1 + worstCaseTests(s, 2)); });
  let all = g;
  if (g > 2) {
    sizes.forEach((s, i) => { worst = Math.max(worst, g + i + 1 + worstCaseTests(k - s, Math.max(g - 1, 2))); });
    all += g;
  }
  worst = Math.max(worst, g < k ? all + worstCaseTests(k, Math.min(2 * g, k)) : all);
  memo.set(key, worst);
  return worst;
}

/**
 * A 1-minimal failing subset of `items` (in their order). `test` must answer 'fail' for all of
 * `items` and not 'fail' for none of them; neither is tested again here.
 */
export async function ddmin<T>(items: readonly T[], test: (subset: readonly T[]) => Promise<Outcome>, hooks: DdminHooks<T> = {}): Promise<T[]> {
  if (!Array.isArray(items)) throw new TypeError('ddmin: items must be an array');
  if (typeof test !== 'function') throw new TypeError('ddmin: test must be a function');
  let current = [...items];
  let n = 2;
  while (current.length >= 2) {
    n = Math.min(n, current.length);
    hooks.onRound?.({ size: current.length, granularity: n, worstRemaining: worstCaseTests(current.length, n) }, current);
    const chunks = split(current, n);
    let next: T[] | null = null;
    let nextN = 2;
    for (const chunk of chunks) {
      if (await test(chunk) === 'fail') { next = chunk; nextN = 2; break; }
    }
    // With two chunks each complement is the other chunk, already tested.
    if (next === null && n > 2) {
      for (let i = 0; i < chunks.length; i++) {
        const complement = chunks.filter((_, j) => j !== i).flat();
        if (await test(complement) === 'fail') { next = complement; nextN = Math.max(n - 1, 2); break; }
      }
    }
    if (next !== null) {
      current = next;
      n = nextN;
      continue;
    }
    if (n >= current.length) break;
    n = Math.min(2 * n, current.length);
  }
  return current;
}
