// Fitting text to a terminal: no line over the width, no word lost, indentation kept.
import { describe, expect, it } from 'vitest';
import { fitText, terminalWidth, wrapLine } from '../../lib/report/text.js';

describe('wrapLine', () => {
  it('keeps a short line as it is', () => {
    expect(wrapLine('  short', 80)).toEqual(['  short']);
  });

  it('wraps at word boundaries with a hanging indent for list items, losing no word', () => {
    const line = `       - ${'word '.repeat(40).trim()}`;
    const wrapped = wrapLine(line, 50);
    expect(wrapped.every((l) => l.length <= 50)).toBe(true);
    expect(wrapped[0].startsWith('       - word')).toBe(true);
    expect(wrapped.slice(1).every((l) => l.startsWith('         word'))).toBe(true);
    expect(wrapped.join(' ').split(/\s+/).filter((w) => w === 'word')).toHaveLength(40);
  });

  it('breaks a path longer than the line only after a /, never inside a name', () => {
    const path = `/very/long/${'segment/'.repeat(12)}libhook.so`;
    const wrapped = wrapLine(`  provided by ${path} here`, 60);
    expect(wrapped.every((l) => l.length <= 60)).toBe(true);
    expect(wrapped.join('').replace(/\s+/g, '')).toBe(`providedby${path}here`);
    // every line of the path ends at a separator: no name is cut
    for (const line of wrapped.slice(0, -1)) expect(line.endsWith('/') || line.endsWith('by')).toBe(true);
  });

  it('keeps a token with no separator whole, on its own line, even past the width', () => {
    const token = `0x${'f'.repeat(70)}`;
    const wrapped = wrapLine(`  value ${token} end`, 40);
    expect(wrapped.some((l) => l.trim() === token)).toBe(true);
  });
});

describe('fitText and terminalWidth', () => {
  it('fits every line and keeps the final newline', () => {
    const text = `${'a '.repeat(100)}\nshort\n`;
    const fitted = fitText(text, 40);
    expect(fitted.endsWith('\n')).toBe(true);
    expect(fitted.split('\n').every((l) => l.length <= 40)).toBe(true);
    expect(fitText(text, Infinity)).toBe(text);
  });

  it('COLUMNS wins, then a terminal (80 when it cannot say), else no limit; never below 40', () => {
    expect(terminalWidth({ columns: 120, isTTY: true }, { COLUMNS: '100' })).toBe(100);
    expect(terminalWidth({ columns: 120, isTTY: true }, {})).toBe(120);
    expect(terminalWidth({ isTTY: true }, {})).toBe(80);
    expect(terminalWidth({ columns: 120, isTTY: false }, {})).toBe(Infinity);
    expect(terminalWidth(undefined, { COLUMNS: '10' })).toBe(40);
  });
});
