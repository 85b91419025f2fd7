// Text that fits a terminal: the width to use, and lines wrapped at spaces (a path also after a
// '/', never inside a name) with the indentation of the line kept (and a hanging indent for list items), so every report reads
// in 80 columns. Renderers build long logical lines; fitting happens once, at the end.

/**
 * COLUMNS when set; else a terminal's own width (80 when it cannot say); else, for output to a
 * file or a pipe, no limit, so lines stay whole for grep and for programs. Never below 40.
 */
export function terminalWidth(stream?: { columns?: number; isTTY?: boolean }, env: Readonly<Record<string, string | undefined>> = process.env): number {
  const fromEnv = Number(env.COLUMNS);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return Math.max(40, fromEnv);
  if (!stream?.isTTY) return Infinity;
  return typeof stream.columns === 'number' && stream.columns > 0 ? Math.max(40, stream.columns) : 80;
}

const LIST_MARK = /^(\s*)((?:- |\d+\. |\[[a-z]+\] )?)/;

/** One logical line as lines of at most `width` characters. */
export function wrapLine(line: string, width: number): string[] {
  if (line.length <= width) return [line];
  const [, indent, mark] = LIST_MARK.exec(line) as RegExpExecArray;
  const hang = ' '.repeat(Math.min(indent.length + Math.max(mark.length, 2), Math.floor(width / 2)));
  const words = line.slice(indent.length + mark.length).split(' ').filter((w) => w.length > 0);
  const out: string[] = [];
  let current = indent + mark;
  let fresh = true; // nothing but indentation on `current` yet
  const flush = (): void => {
    out.push(current.trimEnd());
    current = hang;
    fresh = true;
  };
  for (let word of words) {
    if (!fresh && current.length + 1 + word.length > width) flush();
    // A word longer than a whole line (a path) is broken only after a path separator, never
    // inside a name; a token with no separator in reach stays whole on its own line.
    while (current.length + (fresh ? 0 : 1) + word.length > width) {
      const room = width - current.length - (fresh ? 0 : 1);
      const cut = word.lastIndexOf('/', room - 1) + 1;
      if (cut <= 1) break;
      current += (fresh ? '' : ' ') + word.slice(0, cut);
      word = word.slice(cut);
      flush();
    }
    if (word.length > 0) {
      current += (fresh ? '' : ' ') + word;
      fresh = false;
    }
  }
  if (!fresh) out.push(current);
  return out;
}

/**
 * Prose written with line breaks of its own (help texts are) as one line per paragraph, so that
 * fitText can wrap it at the width it is given instead of breaking each short line again: a
 * line at column 0 joins the one before it when that one is prose too (at column 0, not blank,
 * not ending in ':'). Indented lines (examples, option lists, list items) stay as they are.
 */
export function joinProseLines(text: string): string {
  const prose = (l: string): boolean => l.length > 0 && !/^[\s-]/.test(l);
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const previous = out[out.length - 1];
    if (previous !== undefined && prose(previous) && !previous.endsWith(':') && prose(line)) out[out.length - 1] = `${previous} ${line}`;
    else out.push(line);
  }
  return out.join('\n');
}

/** Every line of `text` fitted to `width` (Infinity: unchanged). */
export function fitText(text: string, width: number): string {
  if (!Number.isFinite(width)) return text;
  const endsWithNewline = text.endsWith('\n');
  const lines = (endsWithNewline ? text.slice(0, -1) : text).split('\n').flatMap((l) => wrapLine(l, width));
  return lines.join('\n') + (endsWithNewline ? '\n' : '');
}
