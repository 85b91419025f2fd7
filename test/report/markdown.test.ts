// --format markdown (issue 23): the report a user pastes into an SGLang, Miles or PyTorch issue.
// Real runs on the simulated device (the seed's failure, a pass, an abort; a bisect) are rendered
// and parsed with a real Markdown parser (markdown-it), and their structure is checked: a heading,
// the answer as answer.ts makes it, a Fix list, the environment, the evidence in <details>, no
// ANSI, short table rows, and no value the JSON does not hold.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import MarkdownIt from 'markdown-it';
import { afterAll, describe, expect, it } from 'vitest';
import { tmsStandinPath, vmmInterposerPath } from '../../lib/binding/native.js';
import { captureEnvironment } from '../../lib/env/capture.js';
import { probeAnswer } from '../../lib/report/answer.js';
import { inline, renderIssueMarkdown } from '../../lib/report/markdown.js';
import type { ProbeReport } from '../../lib/report/types.js';

const bin = fileURLToPath(new URL('../../bin/cuipc.js', import.meta.url));
const md = new MarkdownIt({ html: true });
type Token = ReturnType<typeof md.parse>[number];
const scratch = mkdtempSync(join(tmpdir(), 'cuipc-markdown-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const { LD_PRELOAD: _p, SGLANG_MEMORY_SAVER_CUDA_GRAPH: _s, CUIPC_INTERPOSER_REGION: _r, COLUMNS: _c, ...cleanEnv } = process.env;
const SECRET = 'hunter2-not-in-the-json';

function cuipc(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000, cwd: scratch, env: { ...cleanEnv, FORCE_COLOR: '1' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The text of an inline token as a reader sees it (escapes undone, code spans as their text). */
function textOf(token: Token | undefined): string {
  return (token?.children ?? []).map((c) => (c.type === 'text' || c.type === 'code_inline' ? c.content : c.type === 'softbreak' ? ' ' : '')).join('');
}

/** The checks every rendered report passes; returns the parsed pieces for more. */
function structure(markdown: string, answer: string): { tokens: Token[]; evidence: string; fixes: string[] } {
  expect(markdown).not.toMatch(/\u001b/); // no raw ANSI, even with FORCE_COLOR
  const tokens = md.parse(markdown, {});
  expect(tokens[0]).toMatchObject({ type: 'heading_open', tag: 'h3' });
  expect(textOf(tokens[1])).toMatch(/^cuipc \w+: /);
  // The answer: a paragraph that is one strong span, whose text is the headline, escapes undone.
  const answerAt = tokens.findIndex((t) => t.type === 'inline' && t.children?.some((c) => c.type === 'strong_open') === true && t.content.startsWith('**') && textOf(t) === answer);
  expect(answerAt).toBeGreaterThan(1);
  // Fix: a bullet list right after the "Fix:" paragraph.
  const fixAt = tokens.findIndex((t) => t.type === 'inline' && textOf(t) === 'Fix:');
  expect(fixAt).toBeGreaterThan(answerAt);
  expect(tokens[fixAt + 2].type).toBe('bullet_list_open');
  const close = tokens.findIndex((t, i) => i > fixAt && t.type === 'bullet_list_close');
  const fixes = tokens.slice(fixAt + 2, close).filter((t) => t.type === 'inline').map(textOf);
  expect(fixes.length).toBeGreaterThan(0);
  // Environment: a table; no table line over 200 characters.
  expect(tokens.some((t) => t.type === 'table_open')).toBe(true);
  expect(markdown.split('\n').filter((l) => l.startsWith('|') && l.length > 200)).toEqual([]);
  // Evidence: <details><summary>..</summary>, one fenced block, </details>.
  const open = tokens.findIndex((t) => t.type === 'html_block' && /^<details>\n<summary>Evidence[^<]*<\/summary>/.test(t.content));
  expect(open).toBeGreaterThan(fixAt);
  expect(tokens[open + 1]).toMatchObject({ type: 'fence', info: 'text' });
  expect(tokens[open + 2]).toMatchObject({ type: 'html_block' });
  expect(tokens[open + 2].content.trim()).toBe('</details>');
  return { tokens, evidence: tokens[open + 1].content, fixes };
}

describe('--format markdown', () => {
  it("the seed's failure: answer, fix, environment, replay, evidence; no value the JSON lacks", () => {
    const seed = ['probe', '--backend', 'sim', '--ranks', '4', '--env', `LD_PRELOAD=${tmsStandinPath()}`, '--env', 'SGLANG_MEMORY_SAVER_CUDA_GRAPH=true', '--env', `HF_TOKEN=${SECRET}`];
    const json = cuipc([...seed, '--json']);
    const r = cuipc([...seed, '--format', 'markdown']);
    expect(r.status).toBe(1);
    expect(json.status).toBe(1);
    const report = JSON.parse(json.stdout) as ProbeReport;
    const answer = probeAnswer(report);
    expect(answer.headline).toMatch(/^FAILED: cudaIpcGetMemHandle -> 1 \(invalid argument\) at export on ranks 0-3: .*SGLANG_MEMORY_SAVER_CUDA_GRAPH=true/);
    const { tokens, evidence, fixes } = structure(r.stdout, answer.headline);
    expect(textOf(tokens[1])).toBe('cuipc probe: FAILED (simulated device)');
    expect(fixes).toEqual(answer.fix);
    expect(fixes[0]).toMatch(/unset SGLANG_MEMORY_SAVER_CUDA_GRAPH/);
    const table = tokens.filter((t) => t.type === 'inline').map(textOf);
    expect(table).toContain('cuipc simulated H200 x4');
    expect(r.stdout).toContain('`SGLANG_MEMORY_SAVER_CUDA_GRAPH=true`');
    expect(r.stdout).toContain(`\`LD_PRELOAD=${tmsStandinPath()}\``);
    expect(r.stdout).toContain('`HF_TOKEN` (given; its value is not kept in the report)');
    expect(json.stdout).not.toContain(SECRET);
    expect(r.stdout).not.toContain(SECRET);
    const replay = tokens.find((t) => t.type === 'fence' && t.info === 'sh');
    expect(replay?.content).toMatch(/^# also given, values not kept in the report: HF_TOKEN\ncuipc probe --backend sim --ranks 4 .*--env SGLANG_MEMORY_SAVER_CUDA_GRAPH=true\n$/);
    expect(evidence).toContain('Pinpoint');
    expect(evidence).toContain('Why (most likely first)');
  }, 120_000);

  it('a pass says there is nothing to change; -f is --format; --json and --format conflict', () => {
    const r = cuipc(['probe', '--backend', 'sim', '--ranks', '2', '--inputs', '2', '-f', 'markdown']);
    expect(r.status).toBe(0);
    const headline = /\*\*(PASSED: .*)\*\*/.exec(r.stdout)?.[1] ?? '';
    const { fixes, evidence } = structure(r.stdout, headline);
    expect(fixes).toEqual(['nothing to change: no failure was found']);
    expect(evidence).toMatch(/PASSED \(exit 0\)/);
    const both = cuipc(['probe', '--backend', 'sim', '--format', 'markdown', '--json']);
    expect(both.status).toBe(2); // bad usage
    expect(both.stderr).toMatch(/--format.*cannot be used with option '--json'/);
  }, 120_000);

  it('an aborted probe (a rank killed): COULD NOT RUN with the abort in the evidence', () => {
    const r = cuipc(['probe', '--backend', 'sim', '--ranks', '2', '--inputs', '2', '--format', 'markdown', '--env', 'CUIPC_SIM_FAULT=cudaIpcOpenMemHandle@1#1=kill']);
    expect(r.status).toBe(3);
    const headline = /\*\*(COULD NOT RUN .*)\*\*/.exec(r.stdout)?.[1]?.replace(/\\(.)/g, '$1') ?? '';
    const { tokens, evidence, fixes } = structure(r.stdout, headline);
    expect(textOf(tokens[1])).toMatch(/^cuipc probe: COULD NOT RUN \(exit 3, crashed\)/);
    expect(fixes).toEqual(['none from this run: the probe could not run to the end (the evidence says why)']);
    expect(evidence).toMatch(/COULD NOT RUN \(exit 3, crashed\)/);
    expect(r.stdout).toContain('`CUIPC_SIM_FAULT` (given; its value is not kept in the report)'); // the JSON keeps its name only
  }, 120_000);

  it('bisect: the answer, the hazard remedies as the fix, the minimal set as variables', () => {
    const snapshot = (name: string, extra: Record<string, string>): string => {
      const file = join(scratch, name);
      writeFileSync(file, JSON.stringify(captureEnvironment({ env: { ...cleanEnv, ...extra }, label: name })));
      return file;
    };
    const good = snapshot('good.json', {});
    const bad = snapshot('bad.json', { LD_PRELOAD: vmmInterposerPath(), CUIPC_INTERPOSER_REGION: 'all' });
    const out = join(scratch, 'bisect.json');
    const r = cuipc(['bisect', good, bad, '--backend', 'sim', '--ranks', '2', '--inputs', '2', '--bytes', '1024', '--format', 'markdown', '-o', out]);
    expect(r.status).toBe(0);
    const result = JSON.parse(readFileSync(out, 'utf8')) as { answer: string };
    const { tokens, evidence } = structure(r.stdout, result.answer);
    expect(textOf(tokens[1])).toBe('cuipc bisect: cause found (simulated device)');
    expect(r.stdout).toContain('`CUIPC_INTERPOSER_REGION=all`');
    expect(evidence).toMatch(/^Answer: the failure/);
  }, 180_000);

  it('escapes what Markdown would read as markup, and keeps code spans', () => {
    const tricky = 'FAILED: CUDA_VISIBLE_DEVICES=<unset> | *stars* _under_ [link](x) ~~gone~~ a\\b';
    expect(textOf(md.parseInline(inline(tricky), {})[0])).toBe(tricky);
    expect(textOf(md.parseInline(inline('run `cuipc matrix` <here>'), {})[0])).toBe('run cuipc matrix <here>');
    const evidence = 'a fence inside:\n```\nnot the end\n````\n';
    const text = renderIssueMarkdown({ command: 'cuipc probe', simulated: false, answer: { headline: tricky, fix: ['x'] }, environment: [['GPU', `${'x'.repeat(300)}|y`]], variables: [], libraries: [], evidence });
    const { evidence: shown } = structure(text, tricky);
    expect(shown).toBe(evidence);
  });
});
