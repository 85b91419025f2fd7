// The live progress line on a terminal: one line on stderr, rewritten in place (at most ~10
// times a second), cleared before the report prints. Nothing at all when stderr is not a
// terminal or with --quiet, so logs and pipes get the report alone.
import type { ProbeProgress } from '../probe/options.js';

export class ProgressLine {
  private last = 0;
  private shown = false;
  private pending: string | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    readonly enabled: boolean = stream.isTTY === true,
  ) {}

  update(text: string): void {
    if (!this.enabled) return;
    this.pending = text;
    const wait = 100 - (Date.now() - this.last);
    if (wait <= 0) this.flush();
    else if (!this.timer) this.timer = setTimeout(() => this.flush(), wait);
  }

  /** Removes the line (before the report is written). */
  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = null;
    if (this.shown) this.stream.write('\r\x1b[2K');
    this.shown = false;
  }

  private flush(): void {
    this.timer = null;
    if (this.pending === null) return;
    const width = Math.max(20, (this.stream.columns || 80) - 1);
    const text = this.pending.length > width ? `${this.pending.slice(0, width - 1)}…` : this.pending;
    this.stream.write(`\r\x1b[2K${text}`);
    this.pending = null;
    this.shown = true;
    this.last = Date.now();
  }
}

/** "step 4/9 export: 2/4 ranks done; rank 1 in cudaIpcGetMemHandle (1.2 s)". */
export function describeProgress(p: ProbeProgress): string {
  const seconds = `${(p.elapsedMs / 1000).toFixed(1)} s`;
  if (p.step === null) return `starting ranks: ${p.connected}/${p.ranks.length} connected (${seconds})`;
  const done = p.ranks.filter((r) => r.done).length;
  const busy = p.ranks.filter((r) => !r.done && r.call !== null);
  const calls = busy.slice(0, 2).map((r) => `rank ${r.rank} in ${r.call}`).join(', ');
  const more = busy.length > 2 ? ` +${busy.length - 2} more` : '';
  return `step ${p.stepNumber}/${p.steps} ${p.step}: ${done}/${p.ranks.length} ranks done${calls ? `; ${calls}${more}` : ''} (${seconds})`;
}
