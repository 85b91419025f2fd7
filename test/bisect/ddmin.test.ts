// ddmin over fake predicates: minimality, 1-minimality, interactions, determinism, and that the
// worst-case count it announces ("probe n of at most m") is never exceeded and is reached.
import { describe, expect, it } from 'vitest';
import { chunkSizes, ddmin, worstCaseTests, type Outcome } from '../../lib/bisect/ddmin.js';

const letters = (n: number) => Array.from({ length: n }, (_, i) => `c${String(i).padStart(2, '0')}`);

/** Fails when the subset contains every item of any one of the groups. */
function failsWithAny(groups: string[][]) {
  const tested: string[][] = [];
  const test = async (subset: readonly string[]): Promise<Outcome> => {
    tested.push([...subset]);
    return groups.some((g) => g.every((x) => subset.includes(x))) ? 'fail' : 'pass';
  };
  return { test, tested };
}

// A small deterministic generator (mulberry32), so the random cases are the same every run.
function rng(seed: number) {
  let a = seed;
  return () => {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('ddmin', () => {
  it('finds the one change that matters among 24', async () => {
    const items = letters(24);
    const { test, tested } = failsWithAny([['c17']]);
    expect(await ddmin(items, test)).toEqual(['c17']);
    expect(tested.length).toBeLessThanOrEqual(worstCaseTests(24));
  });

  it('an interaction of two changes: neither alone fails, the result is exactly both', async () => {
    const items = letters(26);
    for (const pair of [['c00', 'c25'], ['c03', 'c04'], ['c12', 'c13'], ['c07', 'c19']]) {
      const { test, tested } = failsWithAny([pair]);
      expect(await ddmin(items, test)).toEqual(pair);
      expect(tested.length).toBeLessThanOrEqual(worstCaseTests(26));
    }
  });

  it('a different failure counts as not failing: the pair that fails the same way is found', async () => {
    const items = letters(10);
    // c02 alone makes a different failure (unresolved); c02 with c08 is the failure.
    const test = async (s: readonly string[]): Promise<Outcome> => s.includes('c02') && s.includes('c08') ? 'fail' : s.includes('c02') ? 'unresolved' : 'pass';
    expect(await ddmin(items, test)).toEqual(['c02', 'c08']);
  });

  it('is 1-minimal and within its bound on 300 random monotone predicates, and deterministic', async () => {
    const random = rng(12);
    for (let round = 0; round < 300; round++) {
      const n = 2 + Math.floor(random() * 30);
      const items = letters(n);
      const groups = Array.from({ length: 1 + Math.floor(random() * 3) }, () => items.filter(() => random() < 2.5 / n));
      if (groups.every((g) => g.length === 0)) groups[0] = [items[Math.floor(random() * n)] as string];
      const nonEmpty = groups.filter((g) => g.length > 0);
      const first = failsWithAny(nonEmpty);
      const result = await ddmin(items, first.test);
      const again = failsWithAny(nonEmpty);
      expect(await ddmin(items, again.test)).toEqual(result);
      expect(again.tested).toEqual(first.tested);
      const check = failsWithAny(nonEmpty).test;
      expect(await check(result)).toBe('fail');
      for (const x of result) expect(await check(result.filter((y) => y !== x)), `${x} in ${result.join(',')} is not needed`).toBe('pass');
      expect(first.tested.length).toBeLessThanOrEqual(worstCaseTests(n));
      // Subsets keep the items' order.
      expect(result).toEqual(items.filter((x) => result.includes(x)));
    }
  });

  it('does not test the whole set or the empty set, and needs no test for a single change', async () => {
    const { test, tested } = failsWithAny([['c00']]);
    expect(await ddmin(['c00'], test)).toEqual(['c00']);
    expect(tested).toEqual([]);
    const two = failsWithAny([['c00', 'c01']]);
    expect(await ddmin(['c00', 'c01'], two.test)).toEqual(['c00', 'c01']);
    expect(two.tested).toEqual([['c00'], ['c01']]);
  });

  it('refuses what is not a list or a test', async () => {
    await expect(ddmin('abc' as unknown as string[], async () => 'pass')).rejects.toThrow(TypeError);
    await expect(ddmin(['a'], undefined as unknown as () => Promise<Outcome>)).rejects.toThrow(TypeError);
    expect(() => worstCaseTests(-1)).toThrow(RangeError);
  });
});

describe('worstCaseTests', () => {
  it('chunks are as even as can be and cover everything', () => {
    expect(chunkSizes(5, 2)).toEqual([2, 3]);
    expect(chunkSizes(10, 4)).toEqual([2, 2, 3, 3]);
    expect(chunkSizes(7, 7)).toEqual([1, 1, 1, 1, 1, 1, 1]);
  });

  // Every sequence of answers, consistent or not: the longest run equals the bound.
  it.each([2, 3, 4, 5, 6])('is exact for %i changes against every sequence of answers', async (k) => {
    const items = letters(k);
    let longest = 0;
    const explore = async (prefix: Outcome[]): Promise<void> => {
      const answers: Outcome[] = [];
      await ddmin(items, async () => {
        const a = answers.length < prefix.length ? prefix[answers.length] as Outcome : 'pass';
        answers.push(a);
        return a;
      });
      longest = Math.max(longest, answers.length);
      for (let i = prefix.length; i < answers.length; i++) await explore([...answers.slice(0, i), 'fail']);
    };
    await explore([]);
    expect(longest).toBe(worstCaseTests(k));
  });

  it('falls as the set narrows, and is Zeller\'s k^2 + 3k past 400 changes', () => {
    expect(worstCaseTests(0)).toBe(0);
    expect(worstCaseTests(1)).toBe(0);
    expect(worstCaseTests(2)).toBe(2);
    expect(worstCaseTests(26)).toBeGreaterThan(worstCaseTests(13));
    expect(worstCaseTests(401)).toBe(401 * 401 + 3 * 401);
  });
});
