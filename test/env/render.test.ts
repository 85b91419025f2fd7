// Rendering for a person: a diff puts CUDA-relevant differences first, with their effects and
// evidence, then the rest; a snapshot lists its hazards and LD_PRELOAD entries.
import { describe, expect, it } from 'vitest';
import { diffEnvironments } from '../../lib/env/diff.js';
import { renderEnvDiff, renderSnapshot } from '../../lib/env/render.js';
import { shellAndActor } from './fixtures.js';

describe('renderEnvDiff and renderSnapshot', () => {
  it('renders for a person: CUDA-relevant first, effects and evidence, then the rest', () => {
    const { shell, actor } = shellAndActor();
    const text = renderEnvDiff(diffEnvironments(shell, actor));
    const relevantAt = text.indexOf('CUDA-relevant differences');
    const otherAt = text.indexOf('Other differences');
    expect(relevantAt).toBeGreaterThan(0);
    expect(otherAt).toBeGreaterThan(relevantAt);
    expect(text.indexOf('[HIGH] LD_PRELOAD')).toBeGreaterThan(relevantAt);
    expect(text.indexOf('[HIGH] LD_PRELOAD')).toBeLessThan(text.indexOf('CUDA_VISIBLE_DEVICES'));
    expect(text).toMatch(/only in actor:/);
    expect(text).toMatch(/evidence: docs\/hardware-facts\.md#[a-z-]+/);
    expect(text).toMatch(/high-severity hazard\(s\) only in actor/);
    expect(text.slice(otherAt)).toMatch(/TERM: xterm -> dumb/);
    const snap = renderSnapshot(actor);
    expect(snap).toMatch(/Hazards \(\d+\)/);
    expect(snap).toMatch(/libvmm_alloc_hook\.so \(exists; exports cudaMalloc, cudaFree/);
  });
});
