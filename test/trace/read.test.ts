// Reading traces back: the fixtures follow the format, and a line that cannot be read is
// one of the trace's problems, not an error.
import { describe, expect, it } from 'vitest';
import { CALL_KINDS } from '../../lib/trace/format.js';
import { parseTrace } from '../../lib/trace/read.js';
import { fixture } from './helpers.js';

const ALL = [
  'expandable_segments.synthetic.jsonl',
  'vmm_interposer.synthetic.jsonl',
  'plain_cudamalloc.synthetic.jsonl',
  'capture_malloc.synthetic.jsonl',
  'subscriber_busy.synthetic.jsonl',
  'cupti_unavailable.synthetic.jsonl',
];

describe('fixtures follow the format', () => {
  it.each(ALL)('%s reads without problems and says it is synthetic', (name) => {
    const trace = fixture(name);
    expect(trace.problems).toEqual([]);
    expect(trace.process?.synthetic).toMatch(/SYNTHETIC/);
    expect(trace.comments.join(' ')).toMatch(/hand-made/);
    expect(trace.status).not.toBeNull();
    for (const c of trace.calls) expect(CALL_KINDS).toContain(c.kind);
    // Calls come back in seq order even where a nested call's line was written first.
    expect(trace.calls.map((c) => c.seq)).toEqual([...trace.calls.map((c) => c.seq)].sort((a, b) => a - b));
  });
});

describe('damaged and unusual traces', () => {
  it('reports lines it cannot read instead of failing', () => {
    const trace = parseTrace(
      [
        '{"type":"process","format":1,"pid":1,"ppid":0,"run":null,"argv":[],"env":{}}',
        '{"type":"call","seq":1,"t":0,"tid":1,"api":"runtime","call":"cudaFoo","kind":"teleport","code":0,"args":{}}',
        'not json',
        '{"type":"status","t":0,"state":"tracing"}',
      ].join('\n'),
      'bad.jsonl',
    );
    expect(trace.problems).toEqual(['bad.jsonl:2: call: unknown kind teleport', 'bad.jsonl:3: not JSON']);
    expect(trace.status?.state).toBe('tracing');
  });

  it('refuses a newer format', () => {
    const trace = parseTrace('{"type":"process","format":99,"pid":1,"argv":[],"env":{}}', 'new.jsonl');
    expect(trace.problems.join()).toMatch(/format 99 is newer/);
  });
});
