// The change model of `cuipc bisect`: what differs between a GOOD and a BAD environment
// snapshot, cut into the smallest pieces that can be applied to GOOD one at a time (a
// variable, one LD_PRELOAD entry, one allocator option), which variables are held fixed and
// why, and the environment GOOD + a set of changes gives.
import { hazardsOfSnapshot, REDACTED, type EnvSnapshot } from '../env/capture.js';
import { detectHazards, type Hazard } from '../env/hazards.js';
import { basename } from 'node:path';
import { splitLdPreload } from '../env/preload.js';
import { RESERVED_ENV } from '../probe/options.js';
import { isRayAssigned, visibilityOf, type SnapshotVisibility } from '../env/visibility.js';

/** 'visibility': Ray's per-rank device assignment against a literal CUDA_VISIBLE_DEVICES (visibility.ts). */
export type ChangeKind = 'variable' | 'preload-entry' | 'preload-order' | 'alloc-option' | 'visibility';

export interface Change {
  /** Stable and unique: 'SGLANG_MEMORY_SAVER_CUDA_GRAPH', 'LD_PRELOAD+/x/libtms.so', 'PYTORCH_CUDA_ALLOC_CONF:expandable_segments'. */
  id: string;
  kind: ChangeKind;
  /** The variable it changes. */
  variable: string;
  change: 'added' | 'removed' | 'changed';
  /** GOOD's and BAD's value of what changes (the variable, the entry, the option's value); null where absent. */
  good: string | null;
  bad: string | null;
  /** One line for a person: "LD_PRELOAD entry /x/libtms.so added". */
  description: string;
  /** A short name for the answer: "SGLANG_MEMORY_SAVER_CUDA_GRAPH=1", "the torch_memory_saver preload entry (libtms.so)". */
  label: string;
  /** What the hazard table says about the side this change brings in (BAD's; GOOD's for a removal). */
  hazards: Hazard[];
}

export interface HeldFixed {
  variable: string;
  good: string | null;
  bad: string | null;
  reason: 'run-specific' | 'set-by-probe' | 'excluded' | 'redacted' | 'given-with-env' | 'not-a-name' | 'ray-assigned';
}

export interface ChangeModel {
  changes: Change[];
  heldFixed: HeldFixed[];
  /** GOOD's environment, the base every probe starts from. */
  base: Record<string, string>;
  /** GOOD's and BAD's device visibility: a probe takes BAD's when the 'visibility' change is applied. */
  visibility: { good: SnapshotVisibility; bad: SnapshotVisibility };
}

const VISIBLE = 'CUDA_VISIBLE_DEVICES';
/** The id and label of the one change that stands for "each rank sees one device, as Ray assigns it". */
export const PER_RANK_VISIBILITY = 'per-rank visibility';
const PER_RANK_TEXT = 'per-rank (as Ray assigns)';

/**
 * A Ray-assigned CUDA_VISIBLE_DEVICES only says which GPU Ray gave the actor: against a literal
 * value it is one change (per-rank visibility), and between two Ray-assigned sides none.
 */
function visibilityChange(good: EnvSnapshot, bad: EnvSnapshot): { change: Change | null; held: HeldFixed | null } | null {
  const rayGood = isRayAssigned(good.visibility, good.environment);
  const rayBad = isRayAssigned(bad.visibility, bad.environment);
  if (!rayGood && !rayBad) return null;
  const g = good.environment[VISIBLE] ?? null;
  const b = bad.environment[VISIBLE] ?? null;
  if (rayGood && rayBad) return { change: null, held: g === b ? null : { variable: VISIBLE, good: g, bad: b, reason: 'ray-assigned' } };
  const literal = rayBad ? g : b;
  const literalText = literal === null ? `${VISIBLE} unset` : `${VISIBLE}=${literal}`;
  const change: Change = {
    id: PER_RANK_VISIBILITY, kind: 'visibility', variable: VISIBLE, change: 'changed',
    good: rayGood ? PER_RANK_TEXT : g, bad: rayBad ? PER_RANK_TEXT : b,
    description: rayBad
      ? `each rank sees one device, as Ray assigns it (BAD was captured in a Ray actor), instead of ${literalText}`
      : `${literalText} instead of one device per rank as Ray assigns it (GOOD was captured in a Ray actor)`,
    label: rayBad ? 'per-rank visibility, as Ray assigns it' : literalText,
    hazards: [],
  };
  return { change, held: null };
}

/** Variables that only name paths or ids of one machine, one login or one run; held fixed unless --include names them. */
export const HELD_FIXED_BY_DEFAULT: readonly string[] = [
  'PWD', 'OLDPWD', 'HOME', 'HOSTNAME', 'HOST', 'USER', 'LOGNAME', '_', 'SHLVL', 'TERM', 'TERM_*', 'COLORTERM', 'COLUMNS', 'LINES',
  'SHELL', 'MAIL', 'PS1', 'PS2', 'PS4', 'PROMPT_COMMAND', 'LS_COLORS', 'HIST*', 'SSH_*', 'DISPLAY', 'XDG_*', 'DBUS_SESSION_BUS_ADDRESS',
  'TMUX', 'TMUX_PANE', 'STY', 'WINDOW', 'WINDOWID', 'INVOCATION_ID', 'JOURNAL_STREAM', 'SYSTEMD_EXEC_PID', 'MOTD_SHOWN',
  'RAY_*_ID', 'RAY_*_PID', 'RAY_ADDRESS', 'RAY_*_ADDRESS', 'RAY_NODE_*', 'RAY_JOB_*', 'RAY_SESSION_*', 'RAY_CLIENT_*', 'RAY_RUNTIME_ENV_*',
  'RAY_WORKER_*', 'RAY_USAGE_STATS_*', 'RAY_LOG_*', 'RAY_RAYLET_*',
];
// Variables the probe sets for every rank itself: a snapshot's value never reaches a rank.
const SET_BY_PROBE = new Set<string>([...RESERVED_ENV, 'CUIPC_BACKEND']);
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ALLOC_CONF = ['PYTORCH_CUDA_ALLOC_CONF', 'PYTORCH_ALLOC_CONF'] as const;

/** A shell-style glob over variable names: * any run of characters, ? one character. */
export function globToRegExp(glob: string): RegExp {
  if (typeof glob !== 'string' || glob.length === 0) throw new TypeError('a glob must be a non-empty string');
  const body = glob.split('').map((c) => c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&')).join('');
  return new RegExp(`^${body}$`);
}

export interface ScopeOptions {
  /** Globs of variables to search even when held fixed by default. */
  include?: readonly string[];
  /** Globs of variables to hold fixed; wins over include. */
  exclude?: readonly string[];
  /** Variables every probe gets on top (`--env`): their snapshot values never reach a rank. */
  givenEnv?: Readonly<Record<string, string>>;
}

function heldReason(name: string, good: string | null, bad: string | null, scope: ScopeOptions): HeldFixed['reason'] | null {
  const matches = (globs: readonly string[] | undefined) => (globs ?? []).some((g) => globToRegExp(g).test(name));
  if (SET_BY_PROBE.has(name)) return 'set-by-probe';
  if (scope.givenEnv && Object.hasOwn(scope.givenEnv, name)) return 'given-with-env';
  if (!ENV_KEY.test(name)) return 'not-a-name';
  if (matches(scope.exclude)) return 'excluded';
  if ((good ?? '').includes(REDACTED) || (bad ?? '').includes(REDACTED)) return 'redacted';
  if (matches(HELD_FIXED_BY_DEFAULT) && !matches(scope.include)) return 'run-specific';
  return null;
}

/** PyTorch's allocator options in order, key as written; the last of a repeated key wins, as in parseAllocConf. */
function allocOptions(value: string | null): Map<string, { key: string; value: string | null }> {
  const out = new Map<string, { key: string; value: string | null }>();
  if (value === null) return out;
  for (const raw of value.split(',')) {
    const part = raw.trim();
    if (part === '') continue;
    const at = part.indexOf(':');
    const key = (at < 0 ? part : part.slice(0, at)).trim();
    out.delete(key.toLowerCase());
    out.set(key.toLowerCase(), { key, value: at < 0 ? null : part.slice(at + 1).trim() });
  }
  return out;
}

function optionText(o: { key: string; value: string | null } | undefined): string | null {
  return o === undefined ? null : o.value === null ? o.key : `${o.key}:${o.value}`;
}

function uniqueEntries(value: string | null): string[] {
  return [...new Set(splitLdPreload(value ?? ''))];
}

/** Hazards of the side a change brings in, about just what it changes. */
const snapshotHazards = new WeakMap<EnvSnapshot, Hazard[]>();
function hazardsFor(side: EnvSnapshot, variable: string, value: string): Hazard[] {
  let all = snapshotHazards.get(side);
  if (all === undefined) { all = hazardsOfSnapshot(side); snapshotHazards.set(side, all); }
  return all.filter((h) => h.variable === variable && (variable !== 'LD_PRELOAD' || h.value === value));
}

function preloadLabel(side: EnvSnapshot, entry: string): string {
  const p = side.preload.find((x) => x.entry === entry);
  const name = basename(entry);
  return p !== undefined && p.identity !== 'other' ? `the ${p.identity} preload entry (${name})` : `the LD_PRELOAD entry ${name}`;
}

function optionHazards(variable: string, option: string): Hazard[] {
  // The option alone, as if it were the whole configuration; 'alloc-conf.set' (no effect) is dropped as noise.
  return detectHazards({ [variable]: option }, { preload: [], inspectFiles: false }).filter((h) => h.id !== 'alloc-conf.set');
}

function variableChanges(name: string, good: EnvSnapshot, bad: EnvSnapshot, g: string | null, b: string | null): Change[] {
  if ((ALLOC_CONF as readonly string[]).includes(name)) {
    const og = allocOptions(g);
    const ob = allocOptions(b);
    const keys = [...new Set([...og.keys(), ...ob.keys()])].sort();
    const out: Change[] = [];
    for (const k of keys) {
      const tg = optionText(og.get(k));
      const tb = optionText(ob.get(k));
      if (tg === tb) continue;
      const change = tg === null ? 'added' : tb === null ? 'removed' : 'changed';
      out.push({
        id: `${name}:${k}`, kind: 'alloc-option', variable: name, change, good: tg, bad: tb,
        description: change === 'added' ? `${name} option ${tb} added` : change === 'removed' ? `${name} option ${tg} removed` : `${name} option ${tg} -> ${tb}`,
        label: change === 'removed' ? `no ${tg} in ${name}` : `${tb} in ${name}`,
        hazards: optionHazards(name, tb ?? tg ?? ''),
      });
    }
    return out;
  }
  if (name === 'LD_PRELOAD') {
    const eg = uniqueEntries(g);
    const eb = uniqueEntries(b);
    const out: Change[] = [];
    for (const e of eb.filter((x) => !eg.includes(x))) {
      out.push({ id: `LD_PRELOAD+${e}`, kind: 'preload-entry', variable: name, change: 'added', good: null, bad: e, description: `LD_PRELOAD entry ${e} added`,
        label: preloadLabel(bad, e), hazards: hazardsFor(bad, name, e) });
    }
    for (const e of eg.filter((x) => !eb.includes(x))) {
      out.push({ id: `LD_PRELOAD-${e}`, kind: 'preload-entry', variable: name, change: 'removed', good: e, bad: null, description: `LD_PRELOAD entry ${e} removed`,
        label: `no ${preloadLabel(good, e).replace(/^the /, '')}`, hazards: hazardsFor(good, name, e) });
    }
    const common = eb.filter((x) => eg.includes(x));
    const goodOrder = eg.filter((x) => eb.includes(x));
    if (common.join('\u0000') !== goodOrder.join('\u0000')) {
      out.push({ id: 'LD_PRELOAD order', kind: 'preload-order', variable: name, change: 'changed', good: goodOrder.join(':'), bad: common.join(':'),
        description: `LD_PRELOAD entries in BAD's order (${common.join(', ')})`, label: "BAD's order of the LD_PRELOAD entries", hazards: [] });
    }
    return out.sort((x, y) => x.id.localeCompare(y.id));
  }
  const change = g === null ? 'added' : b === null ? 'removed' : 'changed';
  const side = change === 'removed' ? good : bad;
  return [{
    id: name, kind: 'variable', variable: name, change, good: g, bad: b,
    description: change === 'added' ? `${name}=${b} added` : change === 'removed' ? `${name} (${g}) removed` : `${name}: ${g} -> ${b}`,
    label: change === 'removed' ? `${name} unset` : `${name}=${b}`,
    hazards: hazardsFor(side, name, (change === 'removed' ? g : b) ?? ''),
  }];
}

/** The changes that turn GOOD into BAD, in a fixed order (by id), and the variables held fixed. */
export function changesBetween(good: EnvSnapshot, bad: EnvSnapshot, scope: ScopeOptions = {}): ChangeModel {
  const names = [...new Set([...Object.keys(good.environment), ...Object.keys(bad.environment)])].sort();
  const changes: Change[] = [];
  const heldFixed: HeldFixed[] = [];
  const visibility = visibilityChange(good, bad);
  if (visibility?.change) changes.push(visibility.change);
  if (visibility?.held) heldFixed.push(visibility.held);
  for (const name of names) {
    if (name === VISIBLE && visibility !== null) continue;
    const g = good.environment[name] ?? null;
    const b = bad.environment[name] ?? null;
    if (g === b) continue;
    const reason = heldReason(name, g, b, scope);
    if (reason !== null) { heldFixed.push({ variable: name, good: g, bad: b, reason }); continue; }
    changes.push(...variableChanges(name, good, bad, g, b));
  }
  changes.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  return { changes, heldFixed, base: { ...good.environment }, visibility: { good: good.visibility ?? visibilityOf(good.environment), bad: bad.visibility ?? visibilityOf(bad.environment) } };
}

// The entries of `list` that are also in `order`, put in `order`'s sequence, slot by slot.
function reorderShared(list: readonly string[], order: readonly string[]): string[] {
  const shared = order.filter((e) => list.includes(e));
  let next = 0;
  return list.map((e) => (order.includes(e) ? shared[next++] as string : e));
}

// Merges two lists whose shared entries are in the same order, keeping each list's order.
function mergeOrdered(a: readonly string[], b: readonly string[]): string[] {
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && !b.includes(a[i] as string)) out.push(a[i++] as string);
    else if (j < b.length && !a.includes(b[j] as string)) out.push(b[j++] as string);
    else { out.push(a[i] as string); i++; j++; }
  }
  return out;
}

function applyLdPreload(env: Record<string, string>, applied: readonly Change[], badValue: string | null): void {
  const mine = applied.filter((c) => c.variable === 'LD_PRELOAD');
  if (mine.length === 0) return;
  const goodEntries = uniqueEntries(env['LD_PRELOAD'] ?? null);
  const badEntries = uniqueEntries(badValue);
  const removed = new Set(mine.filter((c) => c.change === 'removed').map((c) => c.good));
  const added = new Set(mine.filter((c) => c.kind === 'preload-entry' && c.change === 'added').map((c) => c.bad));
  const kept = new Set([...goodEntries.filter((e) => !removed.has(e)), ...badEntries.filter((e) => added.has(e))]);
  let fromGood = goodEntries.filter((e) => kept.has(e));
  let fromBad = badEntries.filter((e) => kept.has(e));
  // Entries both lists have follow BAD's order when that change is applied, GOOD's otherwise.
  if (mine.some((c) => c.kind === 'preload-order')) fromGood = reorderShared(fromGood, fromBad);
  else fromBad = reorderShared(fromBad, fromGood);
  const entries = mergeOrdered(fromGood, fromBad);
  if (entries.length === 0) delete env['LD_PRELOAD'];
  else env['LD_PRELOAD'] = entries.join(':');
}

function applyAllocConf(env: Record<string, string>, variable: string, applied: readonly Change[]): void {
  const mine = applied.filter((c) => c.variable === variable);
  if (mine.length === 0) return;
  const options = allocOptions(env[variable] ?? null);
  for (const c of mine) {
    const key = c.id.slice(variable.length + 1);
    if (c.bad === null) options.delete(key);
    else options.set(key, allocOptions(c.bad).get(key) ?? { key, value: null });
  }
  const text = [...options.values()].map((o) => optionText(o)).join(',');
  if (text === '') delete env[variable];
  else env[variable] = text;
}

/** GOOD's environment with `applied` (a subset of the model's changes) applied; BAD's values come from `bad`. */
export function applyChanges(model: ChangeModel, applied: readonly Change[], bad: EnvSnapshot): Record<string, string> {
  const env: Record<string, string> = { ...model.base };
  for (const c of applied) {
    if (c.kind !== 'variable') continue;
    if (c.bad === null) delete env[c.variable];
    else env[c.variable] = c.bad;
  }
  // BAD's own value goes with its visibility (a Ray-assigned one is left out when replayed).
  if (applied.some((c) => c.kind === 'visibility')) {
    const b = bad.environment[VISIBLE];
    if (b === undefined) delete env[VISIBLE];
    else env[VISIBLE] = b;
  }
  applyLdPreload(env, applied, bad.environment['LD_PRELOAD'] ?? null);
  for (const v of ALLOC_CONF) applyAllocConf(env, v, applied);
  return env;
}

/** One key per distinct environment (the cache of one bisect). */
export function environmentKey(env: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.keys(env).sort().map((k) => [k, env[k]]));
}

/** The visibility a probe of GOOD + `applied` replays with: BAD's when the visibility change is among them. */
export function visibilityOfTrial(model: ChangeModel, applied: readonly Change[]): SnapshotVisibility {
  return applied.some((c) => c.kind === 'visibility') ? model.visibility.bad : model.visibility.good;
}
