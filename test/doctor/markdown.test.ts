// --format markdown on doctor and trace report: real runs (doctor on the simulated device, a trace
// report of a recorded trace) parsed with markdown-it: heading, the answer each command opens with,
// a Fix list, the evidence folded in <details>, no ANSI.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import MarkdownIt from 'markdown-it';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../../bin/cuipc.js', import.meta.url));
const fixture = fileURLToPath(new URL('../fixtures/trace/expandable_segments.h200.jsonl', import.meta.url));
const md = new MarkdownIt({ html: true });
const { LD_PRELOAD: _p, SGLANG_MEMORY_SAVER_CUDA_GRAPH: _s, CUIPC_INTERPOSER_REGION: _r, COLUMNS: _c, ...cleanEnv } = process.env;

function cuipc(args: string[]): { status: number | null; stdout: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...cleanEnv, FORCE_COLOR: '1' } });
  return { status: r.status, stdout: r.stdout };
}

function check(markdown: string, command: string, headline: RegExp): void {
  expect(markdown).not.toMatch(/\u001b/);
  const tokens = md.parse(markdown, {});
  const heading = tokens.findIndex((t) => t.type === 'heading_open');
  expect(tokens[heading + 1]?.content).toMatch(new RegExp(`^${command}: `));
  expect(tokens.some((t) => t.type === 'inline' && headline.test(t.content))).toBe(true);
  expect(tokens.some((t) => t.type === 'inline' && t.content === '**Fix:**')).toBe(true);
  const html = tokens.filter((t) => t.type === 'html_block').map((t) => t.content).join('');
  expect(html).toMatch(/<details>/);
  expect(tokens.some((t) => t.type === 'fence' && t.content.length > 0)).toBe(true);
}

describe('--format markdown beyond probe and bisect', () => {
  it('doctor on the simulated device: its answer first, the evidence folded', () => {
    const r = cuipc(['doctor', '--backend', 'sim', '--format', 'markdown']);
    expect(r.status).toBe(0);
    check(r.stdout, 'cuipc doctor', /OK: /);
    expect(r.stdout).toMatch(/\| CUDA driver \|/);
  });

  it('trace report of a recorded failing trace: the failing call and its cause first', () => {
    const r = cuipc(['trace', 'report', fixture, '-f', 'markdown']);
    expect(r.status).toBe(1);
    check(r.stdout, 'cuipc trace', /FAILED: cudaIpcGetMemHandle -> 1/);
    expect(r.stdout).toMatch(/PYTORCH_CUDA_ALLOC_CONF/);
  });
});
