// The bench's RSS figures are each process's own peak. getrusage's maxrss keeps the peak from
// before execve, which in a forked child is its parent's RSS; a Node process started by a big
// bench then "peaks" at the bench's size. measureEmptyNode reads VmHWM instead.
import { describe, expect, it } from 'vitest';
import { measureEmptyNode } from '../../bench/floor.js';

describe("an empty Node process's peak RSS", () => {
  it('is its own, not the RSS of the process that started it', () => {
    // This process grows well past what an empty Node process holds (about 40 MB) before it
    // starts one; a figure of this size would be this process's.
    const held = Buffer.alloc(256 * 1024 * 1024, 1);
    const { rssKiB } = measureEmptyNode(1);
    expect(held[held.length - 1]).toBe(1);
    expect(rssKiB).not.toBeNull();
    expect(rssKiB!).toBeGreaterThan(10 * 1024);
    expect(rssKiB!).toBeLessThan(process.memoryUsage().rss / 1024 / 2);
  });
});
