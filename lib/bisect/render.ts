// `cuipc bisect` for a person: GOOD and BAD, the minimal set with what the hazard table says
// about each change, the pinpoint under GOOD + the set, the one-line answer, and the cost.
// Also the one-line answers themselves, which the JSON carries too.
import type { Change } from './changes.js';
import type { BisectFound, BisectInterrupted, BisectNone, BisectProbe, BisectRay, BisectResult, BisectSide, FailureSignature } from './types.js';

export function failureText(f: FailureSignature): string {
  return `${f.step}: ${f.call} -> ${f.code} ${f.name}`;
}

function listed(labels: string[]): string {
  if (labels.length <= 1) return labels.join('');
  return `${labels.slice(0, -1).join(', ')} and ${labels[labels.length - 1]}`;
}

/** "the failure (export: cudaIpcGetMemHandle -> 1 cudaErrorInvalidValue) needs both A and B" */
export function foundAnswer(r: Omit<BisectFound, 'answer'>): string {
  const labels = r.minimal.map((c) => c.label);
  const needs = labels.length === 1 ? `needs only ${labels[0]}` : labels.length === 2 ? `needs both ${labels[0]} and ${labels[1]}` : `needs all of ${listed(labels)}`;
  return `the failure (${failureText(r.target)}) ${needs}`;
}

const RAY_MARKERS = /^RAY_/;

/** Why no set was found, and what else differs. */
export function explainNone(r: Omit<BisectNone, 'answer'>): string {
  const others = r.otherDifferences.map((d) => d.key);
  const held = r.heldFixed.map((h) => h.variable);
  const elsewhere = [
    held.length > 0 ? `held fixed: ${held.join(', ')}` : '',
    others.length > 0 ? `not variables: ${others.join(', ')}` : '',
  ].filter((x) => x).join('; ');
  switch (r.reason) {
    case 'good-fails': {
      const g = r.good.failure;
      const same = g && r.target && g.step === r.target.step && g.call === r.target.call && g.code === r.target.code ? ', as BAD does' : '';
      return `GOOD already fails (${g ? failureText(g) : 'failed'})${same}: no difference from BAD causes it; make GOOD pass first (\`cuipc probe --env-snapshot GOOD\`)`;
    }
    case 'bad-passes': {
      const hints: string[] = [];
      const allocOptions = r.changes.filter((c) => c.kind === 'alloc-option' && c.hazards.some((h) => h.severity === 'high'));
      if (allocOptions.length > 0 && r.settings.alloc !== 'torch') {
        hints.push(`the probe allocates graph inputs with ${r.settings.alloc}, not through PyTorch's caching allocator, so ${allocOptions.map((c) => c.bad ?? c.good).join(', ')} cannot change its verdict; \`cuipc bisect\` without --alloc (the default, torch) allocates as PyTorch does under it`);
      }
      const badRay = r.changes.some((c) => RAY_MARKERS.test(c.variable)) || r.heldFixed.some((h) => RAY_MARKERS.test(h.variable) && h.bad !== null && h.good === null);
      if (badRay && r.settings.launcher === 'plain') hints.push('BAD was captured inside a Ray actor (it has RAY_* variables GOOD lacks): the launch differs too; run with --launcher ray');
      for (const w of r.bad.warnings) hints.push(`BAD's probe warns: ${w.message}${w.command ? ` Try ${w.command}` : ''}`);
      if (elsewhere) hints.push(`what else differs: ${elsewhere}`);
      return `BAD passes with the ${r.settings.launcher} launcher: the environment differences do not make this probe fail${hints.length ? `; ${hints.join('; ')}` : ''}`;
    }
    case 'not-reproduced': {
      const all = r.probes.find((p) => p.role === 'all-changes');
      const how = all === undefined ? '' : all.verdict === 'passes' ? ' (it passes)' : all.failure ? ` (it fails differently: ${failureText(all.failure)})` : ` (${all.verdict})`;
      return `GOOD with all ${r.changes.length} searched change(s) does not fail as BAD does${how}: the failure is not caused by the searched variables${elsewhere ? `; what else differs: ${elsewhere} (--include GLOB searches held variables)` : ''}`;
    }
  }
}

function sideLine(name: string, s: BisectSide | null): string {
  if (s === null) return `${name}: not known (the signal came before its probe ended)`;
  const who = `${s.label ? `'${s.label}'` : '(no label)'}${s.hostname ? ` on ${s.hostname}` : ''}, pid ${s.pid}`;
  const what = s.result === 'passed' ? 'passed'
    : s.result === 'failed' ? `FAILED at ${s.failure ? failureText(s.failure) : '?'}`
      : `could not run (${s.abort?.reason ?? '?'}: ${s.abort?.message ?? ''})`;
  return [`${name} ${who}: ${what}`, ...s.warnings.map((w) => `  warning: ${w.message}`)].join('\n');
}

function changeLines(c: Change, index: number): string[] {
  const out = [`  ${index + 1}. ${c.description}`];
  if (c.hazards.length === 0) out.push('       the hazard table says nothing about it');
  for (const h of c.hazards) {
    out.push(`       [${h.severity}] ${h.effect}`, `         evidence: ${h.evidence}`);
    if (h.remedy) out.push(`         try: ${h.remedy}`);
  }
  return out;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** "3. GOOD + 2 change(s) (search): passes" */
function probeLine(p: BisectProbe): string {
  const what = p.role === 'good' ? 'GOOD' : p.role === 'bad' ? 'BAD' : `GOOD + ${p.applied.length} change(s) (${p.role})`;
  const fails = p.role === 'bad' ? 'fails' : p.verdict === 'fails-same' ? 'fails as BAD does' : 'fails differently';
  const how = p.abort?.reason === 'interrupted' ? 'stopped by the signal'
    : p.verdict === 'passes' ? 'passes'
      : p.verdict === 'aborted' ? `could not run (${p.abort?.reason ?? '?'})`
        : `${fails}${p.failure ? ` (${failureText(p.failure)})` : ''}`;
  return `  ${p.n}. ${what}: ${how}`;
}

/** What an interrupted bisect had found: every probe that ran and the set it held. */
function interruptedLines(r: BisectInterrupted): string[] {
  const out = [`INTERRUPTED by ${r.signal}: no further probe was started.`, 'Probes so far:', ...(r.probes.length ? r.probes.map(probeLine) : ['  (none)'])];
  const which = r.candidatesFail ? 'GOOD + these fails as BAD does; the search had not shown that none can be dropped' : 'not narrowed yet';
  out.push('', `Set so far (${r.candidates.length} of ${r.changes.length}): ${which}`);
  r.candidates.forEach((c, i) => out.push(`  ${i + 1}. ${c.description}`));
  return out;
}

/** What to change in BAD's launch: the hazard table's remedies for the minimal set, else GOOD's value back. */
export function bisectFixes(r: BisectFound): string[] {
  const fixes = r.minimal.flatMap((c) => {
    const remedies = c.hazards.flatMap((h) => (h.remedy ? [h.remedy] : []));
    return remedies.length ? remedies : [c.good === null ? `launch without ${c.label}` : `give ${c.variable} GOOD's value (${c.good})`];
  });
  return [...new Set(fixes)];
}

/** Ray's start-up, apart from the probes: one Ray for the whole bisect. */
export function rayLine(ray: BisectRay): string {
  if (ray.error !== undefined) return `Ray: no one Ray for every probe (${ray.error}); each probe started or joined its own.`;
  if (ray.started) return `Ray: a local Ray started once in ${seconds(ray.startupMs)} (${ray.address ?? '?'}), joined by every probe and shut down at the end.`;
  return `Ray: every probe joined the existing cluster${ray.address ? ` at ${ray.address}` : ''} (found in ${seconds(ray.startupMs)}).`;
}

export function renderBisect(r: BisectResult): string {
  const s = r.settings;
  // The answer first (issue 23), then what to change, then how it was found.
  const out: string[] = [`Answer: ${r.answer}.`];
  const fix = r.outcome === 'found' ? bisectFixes(r) : [];
  if (fix.length) out.push('Fix:', ...fix.map((f) => `  - ${f}`));
  out.push('');
  out.push(`cuipc bisect${r.simulated ? ' [SIMULATED device]' : ''}: launcher ${s.launcher}, ${s.ranks} ranks, ${s.inputs} inputs x ${s.bytes} B, --alloc ${s.alloc} --share ${s.share}`);
  out.push(sideLine('GOOD', r.good), sideLine('BAD ', r.bad));
  const held = r.heldFixed.length === 0 ? '' : `; ${r.heldFixed.length} held fixed (${r.heldFixed.map((h) => h.variable).join(', ')})`;
  out.push(`${r.changes.length} change(s) searched${held}`);
  out.push('');
  if (r.outcome === 'found') {
    out.push(`Minimal set (${r.minimal.length} of ${r.changes.length}): GOOD + these fails as BAD does; GOOD + any one fewer does not`);
    r.minimal.forEach((c, i) => out.push(...changeLines(c, i)));
    const p = r.pinpoint;
    out.push('', `Pinpoint under GOOD + the set: rank ${p.rank}, step ${p.step}, ${p.call} -> ${p.code} ${p.name} ("${p.message}")`);
    const e = p.explanations[0];
    if (e) out.push(`  [${e.likelihood}] ${e.title}`, `  ${e.summary}`);
  } else if (r.outcome === 'none') {
    out.push(r.reason === 'good-fails' ? 'GOOD fails: nothing to bisect.' : r.reason === 'bad-passes' ? 'BAD passes: nothing to bisect.' : 'No set of the searched changes reproduces the failure.');
  } else if (r.outcome === 'could-not-run') {
    out.push(`Could not run: ${r.message}`);
  } else {
    out.push(...interruptedLines(r));
  }
  out.push('', `${r.probeCount} probe(s) in ${seconds(r.totalMs)}${r.cacheHits > 0 ? ` (${r.cacheHits} more answered by an identical environment already probed)` : ''}.`);
  if (r.ray) out.push(rayLine(r.ray));
  return `${out.join('\n')}\n`;
}
