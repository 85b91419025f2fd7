// What a hazard is, the kinds of hazard rule (a variable's value, every variable with a prefix,
// each LD_PRELOAD entry, a fact of the process) and one small checker per kind, so that the
// table of rules (RULES, in hazards.ts) stays declarative. hazards.ts re-exports the types;
// this file imports nothing of it (no cycle).
import { summarizePreloadEntry, type PreloadEntry } from './preload.js';

export type HazardSeverity = 'high' | 'medium' | 'info';

/** Every severity, most severe first (the JSON schemas' enum is held to it). */
export const HAZARD_SEVERITIES: readonly HazardSeverity[] = ['high', 'medium', 'info'];

export interface Hazard {
  /** Stable id of the rule case, e.g. 'alloc-conf.expandable-segments'. */
  id: string;
  /** The variable (or 'PID namespace', '/dev/shm') it is about. */
  variable: string;
  value: string;
  severity: HazardSeverity;
  /** What it does to CUDA IPC. */
  effect: string;
  /** A measured cell or a public source that supports the effect. */
  evidence: string;
  /** What to try. */
  remedy?: string;
}

export interface ShmInfo {
  path: string;
  sizeBytes: number;
  freeBytes: number;
}

export interface EnvContext {
  /** LD_PRELOAD entries already described (a snapshot's); when absent they are described from the files here. */
  preload?: readonly PreloadEntry[];
  /** When false, LD_PRELOAD entries are judged by name only (no file access). Default true. */
  inspectFiles?: boolean;
  /** readlink /proc/self/ns/pid of the process, e.g. 'pid:[4026531836]'. */
  pidNamespace?: string | null;
  /** PID namespaces of the other ranks (or of the other snapshot in a diff). */
  peerPidNamespaces?: readonly (string | null | undefined)[];
  /** /dev/shm size and free space; null when it is not mounted. */
  shm?: ShmInfo | null;
}

export type Env = Readonly<Record<string, string | undefined>>;

type Text = string | ((value: string, env: Env, ctx: EnvContext) => string);

interface Case {
  id: string;
  when: (value: string, env: Env, ctx: EnvContext) => boolean;
  severity: HazardSeverity | ((value: string, env: Env, ctx: EnvContext) => HazardSeverity);
  effect: Text;
  evidence: string;
  remedy?: Text;
}

/** A variable; the first case whose `when` holds gives the hazard. */
export interface ValueRule { kind: 'value'; variable: string; cases: Case[] }
/** Every variable with the prefix that no other rule names, one hazard each. */
interface PrefixRule { kind: 'prefix'; prefix: string; cases: Case[] }
/** One hazard per LD_PRELOAD entry. */
interface PreloadRule { kind: 'preload'; cases: Record<PreloadCase, Omit<Case, 'when'>> }
type PreloadCase = PreloadEntry['identity'] | 'missing' | 'unreadable' | 'uninspected';

export function preloadCase(p: PreloadEntry): PreloadCase {
  // A file ld.so cannot load changes nothing, whatever its name says.
  if (!p.exists && p.error !== undefined && !p.entry.includes('$')) return 'missing';
  if (p.identity !== 'other') return p.identity;
  if (p.exists && !p.inspected) return 'unreadable';
  return p.inspected ? 'other' : 'uninspected';
}
/** A fact about the process rather than a variable (PID namespace, /dev/shm). */
interface ContextRule { kind: 'context'; variable: string; value: (ctx: EnvContext) => string | null; cases: Case[] }

export type Rule = ValueRule | PrefixRule | PreloadRule | ContextRule;

function text(t: Text, value: string, env: Env, ctx: EnvContext): string {
  return typeof t === 'string' ? t : t(value, env, ctx);
}

function hazardFrom(c: Omit<Case, 'when'>, variable: string, value: string, env: Env, ctx: EnvContext): Hazard {
  const h: Hazard = {
    id: c.id, variable, value,
    severity: typeof c.severity === 'string' ? c.severity : c.severity(value, env, ctx),
    effect: text(c.effect, value, env, ctx),
    evidence: c.evidence,
  };
  if (c.remedy !== undefined) h.remedy = text(c.remedy, value, env, ctx);
  return h;
}

function firstCase(cases: readonly Case[], variable: string, value: string, env: Env, ctx: EnvContext): Hazard[] {
  const c = cases.find((k) => k.when(value, env, ctx));
  return c ? [hazardFrom(c, variable, value, env, ctx)] : [];
}

const CHECKERS: { [K in Rule['kind']]: (rule: Extract<Rule, { kind: K }>, env: Env, ctx: EnvContext, named: ReadonlySet<string>) => Hazard[] } = {
  value(rule, env, ctx) {
    const value = env[rule.variable];
    return value === undefined ? [] : firstCase(rule.cases, rule.variable, value, env, ctx);
  },
  prefix(rule, env, ctx, named) {
    return Object.keys(env).filter((k) => k.startsWith(rule.prefix) && !named.has(k)).sort()
      .flatMap((k) => firstCase(rule.cases, k, env[k] ?? '', env, ctx));
  },
  preload(rule, env, ctx) {
    return preloadEntries(env, ctx).map((p) => {
      const h = hazardFrom(rule.cases[preloadCase(p)], 'LD_PRELOAD', p.entry, env, ctx);
      h.effect = `${summarizePreloadEntry(p)}: ${h.effect}`;
      return h;
    });
  },
  context(rule, env, ctx) {
    const value = rule.value(ctx);
    return value === null ? [] : firstCase(rule.cases, rule.variable, value, env, ctx);
  },
};

// detectHazards describes the LD_PRELOAD files once per call and passes them in the context.
export function preloadEntries(_env: Env, ctx: EnvContext): readonly PreloadEntry[] {
  return ctx.preload ?? [];
}

/** A rule's hazards; `named`: the variables a value rule names, which no prefix rule reports again. */
export function runRule(rule: Rule, env: Env, ctx: EnvContext, named: ReadonlySet<string>): Hazard[] {
  switch (rule.kind) {
    case 'value': return CHECKERS.value(rule, env, ctx, named);
    case 'prefix': return CHECKERS.prefix(rule, env, ctx, named);
    case 'preload': return CHECKERS.preload(rule, env, ctx, named);
    case 'context': return CHECKERS.context(rule, env, ctx, named);
  }
}
