// One `cuipc probe` run with timeline-preload.cjs: what each process recorded, turned into the
// moments that say where the time between spawn and exit goes (the coordinator's start-up, the
// ranks' start-up, the rendezvous, the rounds, the exits), in ms since the bench spawned it.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend } from '../binding.js';
import { runProbe, type ProbeRun } from './probe-runs.js';
import { formatMs, formatRatio } from './stats.js';

export interface TimelineEvent {
  who: string;
  event: string;
  /** ms since the bench spawned `cuipc probe`. */
  atMs: number;
}

export interface Timeline {
  ranks: number;
  inputs: number;
  run: ProbeRun;
  events: TimelineEvent[];
}

export async function measureTimeline(ranks: number, inputs: number, backend: Backend): Promise<Timeline> {
  const directory = mkdtempSync(join(tmpdir(), 'cuipc-timeline-'));
  try {
    const run = await runProbe(ranks, inputs, backend, { timelineDir: directory });
    const events: TimelineEvent[] = [];
    for (const name of readdirSync(directory)) {
      for (const line of readFileSync(join(directory, name), 'utf8').split('\n')) {
        const [who, event, at] = line.split('\t');
        if (who && event && at) events.push({ who, event, atMs: Number(at) - run.spawnedAtMs });
      }
    }
    events.sort((a, b) => a.atMs - b.atMs);
    return { ranks, inputs, run, events };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

function span(events: TimelineEvent[], event: string): string {
  const at = events.filter((e) => e.who !== 'coordinator' && e.event === event).map((e) => e.atMs);
  if (!at.length) return 'n/a';
  const first = Math.min(...at);
  const last = Math.max(...at);
  return at.length === 1 ? formatMs(first) : `${formatMs(first)} .. ${formatMs(last)}`;
}

/** The first .. last time the coordinator recorded `event` (e.g. each rank reaped). */
function coordinatorSpan(events: TimelineEvent[], event: string): string {
  const at = events.filter((e) => e.who === 'coordinator' && e.event === event).map((e) => e.atMs);
  if (!at.length) return 'n/a';
  return at.length === 1 ? formatMs(at[0]) : `${formatMs(Math.min(...at))} .. ${formatMs(Math.max(...at))}`;
}

function coordinator(events: TimelineEvent[], event: string): string {
  const found = events.find((e) => e.who === 'coordinator' && e.event === event);
  return found ? formatMs(found.atMs) : 'n/a';
}

/** The last protocol line any rank wrote (its teardown results): the ranks' work is done. */
export function lastRankLineMs(t: Timeline): number {
  const at = t.events.filter((e) => e.who !== 'coordinator' && e.event.startsWith('wrote ')).map((e) => e.atMs);
  return at.length ? Math.max(...at) : Number.NaN;
}

/** From the last rank's last protocol line until the bench saw the coordinator exit. */
export function exitTailMs(t: Timeline): number {
  return t.run.wallMs - lastRankLineMs(t);
}

/**
 * `teardownFloorMs`: bare Node processes with a context leaving together; `rawTailMs`: the raw
 * replay's own exit tail at the same size (the driver's teardown of ranks that did this work).
 */
export function timelineTable(t: Timeline, tag: string, teardownFloorMs?: number, rawTailMs?: number): string[] {
  const e = t.events;
  const lines = [
    `### Timeline of one \`cuipc probe\`${tag}: ${t.ranks} ranks x ${t.inputs} inputs`,
    '',
    'Milliseconds since the bench spawned `cuipc probe` (wall clock, from each process: timeline-preload.cjs records when the process began, when Node reached the preload, the first spawn, and each protocol line written). Ranks: first .. last.',
    '',
    '| moment | coordinator | ranks |',
    '|---|---|---|',
    `| process began | ${coordinator(e, 'process start')} | ${span(e, 'process start')} |`,
    `| Node started (preload reached) | ${coordinator(e, 'node ready (preload)')} | ${span(e, 'node ready (preload)')} |`,
    `| first rank spawned (CLI modules, backend check, rendezvous open) | ${coordinator(e, 'first spawn')} | |`,
    `| hello written (modules loaded, connected) | | ${span(e, 'wrote hello')} |`,
  ];
  const rounds = [...new Set(e.filter((x) => x.who === 'coordinator' && x.event.startsWith('wrote run ')).map((x) => x.event.slice('wrote run '.length)))];
  for (const round of rounds) {
    lines.push(`| round ${round}: sent / results written | ${coordinator(e, `wrote run ${round}`)} | ${span(e, `wrote result ${round}`)} |`);
  }
  const answer = t.run.answerMs ?? Number.NaN;
  lines.push(
    `| the answer: the bench saw the verdict's first byte on stdout | | ${formatMs(answer)} |`,
    `| exit sent / ranks exited | ${coordinator(e, 'wrote exit')} | ${span(e, 'exit')} |`,
    `| ranks reaped: the coordinator saw each exit (the driver's teardown of each rank's context is done) | ${coordinatorSpan(e, 'child reaped')} | |`,
    `| coordinator exited / bench saw the exit | ${coordinator(e, 'exit')} | ${formatMs(t.run.wallMs)} |`,
    `| time to the answer / time to exit (the rest: the ranks' leaving and the clean-up) | | ${formatMs(answer)} / ${formatMs(t.run.wallMs)} (${formatRatio(answer, t.run.wallMs)}) |`,
  );
  const tail = exitTailMs(t);
  const floor = teardownFloorMs ?? Number.NaN;
  const target = Number.isFinite(floor) && Number.isFinite(tail) ? (tail <= floor + 15 ? 'met' : 'missed') : 'n/a';
  const raw = rawTailMs ?? Number.NaN;
  lines.push(
    `| exit tail: the last rank's last protocol line (${formatMs(lastRankLineMs(t))}) to the coordinator's exit; the teardown floor (${t.ranks} Node processes with a context leaving together, same run) | | ${formatMs(tail)}; floor ${formatMs(floor)}; target <= floor + 15 ms: ${target} |`,
    `| the raw C++ replay's exit tail at ${t.ranks} x ${t.inputs}: its last rank's last statement (after teardown's frees) to every rank reaped, its own clock, median of the floor part's runs | | ${formatMs(raw)}${Number.isFinite(raw) && Number.isFinite(tail) ? `; cuipc's tail less it: ${formatMs(tail - raw)}` : ''} |`,
    '',
  );
  return lines;
}
