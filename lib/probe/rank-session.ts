// What one rank does in each step, in order: init, register, capture, export, exchange,
// import, replay, verify, teardown. Each step is a function of its own file (steps/) over the
// rank's shared state (steps/state.ts); this class runs one round at a time and turns what the
// step recorded into the round's result. Every CUDA call goes through the call recorder
// (call-recorder.ts); what differs between share strategies lives in share/. A step stops at
// its first failing call, as a server would; teardown goes on through failures so that nothing
// is left behind.
import type { StepName } from '../model/vocabulary.js';
import { pseudoStatus, type Announce, type Returned } from './call-recorder.js';
import { startEarly, type EarlyInit } from './early-init.js';
import type { RankStepResult, RoundData, RoundInput, RoundPhase } from './protocol.js';
import { capture } from './steps/capture.js';
import { exchange } from './steps/exchange.js';
import { exportInputs } from './steps/export.js';
import { importInputs } from './steps/import.js';
import { init } from './steps/init.js';
import { registerExport, registerImport } from './steps/register.js';
import { fill, launch } from './steps/replay.js';
import { SessionState } from './steps/state.js';
import { teardownClose, teardownFree } from './steps/teardown.js';
import { verify } from './steps/verify.js';

export type { Announce, Returned } from './call-recorder.js';

export class RankSession {
  private readonly state: SessionState;
  private early: EarlyInit | null = null;

  constructor(
    private readonly announce: Announce,
    private readonly returned: Returned = () => {},
  ) {
    this.state = new SessionState(announce);
  }

  /** Before the init round: load the backend, start the context (early-init.ts); init records the calls. */
  prestart(backend: string | undefined, device: number | undefined): void {
    if (!this.early && !this.state.config) this.early = startEarly(backend, device, this.announce, this.returned);
  }

  async run(step: StepName, phase: RoundPhase, input: RoundInput): Promise<RankStepResult> {
    const started = performance.now();
    const rec = this.state.rec;
    rec.begin(step);
    let data: RoundData = { kind: 'none' };
    try {
      data = await this.dispatch(step, phase, input);
    } catch (error) {
      // A programming error (TypeError/RangeError from the binding) fails the step, not the rank.
      const message = (error as Error).stack?.split('\n').slice(0, 2).join(' | ') ?? String(error);
      rec.fail('exception', {}, pseudoStatus('exception', (error as Error).name ?? 'Error', message), { detail: message });
    }
    const log = rec.log;
    return {
      step,
      phase,
      outcome: log.failures.length > 0 ? 'failed' : 'passed',
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      calls: log.calls,
      failures: log.failures,
      notes: log.notes,
      data,
    };
  }

  private async dispatch(step: StepName, phase: RoundPhase, input: RoundInput): Promise<RoundData> {
    const state = this.state;
    switch (step) {
      case 'init':
        if (input.kind !== 'init') throw new TypeError('init without a configuration');
        return init(state, input.config, this.early);
      case 'register':
        if (phase === 'export') return registerExport(state);
        if (input.kind !== 'registered') throw new TypeError('register/import without the registered buffers');
        await registerImport(state, input.peers);
        return { kind: 'none' };
      case 'capture':
        await capture(state);
        return { kind: 'none' };
      case 'export':
        return exportInputs(state);
      case 'exchange':
        if (input.kind !== 'exchange') throw new TypeError('exchange without the all-gathered data');
        exchange(state, input.peers);
        return { kind: 'none' };
      case 'import':
        await importInputs(state);
        return { kind: 'none' };
      case 'replay':
        await (phase === 'fill' ? fill(state) : launch(state));
        return { kind: 'none' };
      case 'verify':
        return verify(state);
      case 'teardown':
        if (phase === 'close') teardownClose(state);
        else teardownFree(state);
        return { kind: 'none' };
    }
  }

  /** When the coordinator is gone: let go of everything without recording (best effort). */
  abandon(): void {
    try {
      this.state.rec.begin('teardown');
      teardownClose(this.state);
      teardownFree(this.state);
    } catch {
      // The process exits next anyway.
    }
  }
}
