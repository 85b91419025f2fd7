// Records every CUDA call a rank makes in a step: its arguments and status, and for a failure
// the last-error slot around it, the pointer's provenance and the capture state at that
// moment. The steps (steps/) and the share strategies (share/) make their calls
// through one recorder, so every call reads the same in the report.
import type { BatchLaunchStatus, CudaStatus, Ptr } from '../../binding.js';
import type { Cuda } from '../cuda/index.js';
import { toProvenance } from '../report/provenance.js';
import type { FailureRecord } from '../report/types.js';
import type { CallArguments, CallRecord, CaptureSnapshot, ErrorCode, StepName } from '../model/vocabulary.js';

export type Announce = (step: StepName, call: string, method: string, args: CallArguments) => void;

/**
 * Says that an announced call returned. Only a call made before its round needs it (early-init.ts):
 * the rank then waits for the round, and until it says so the coordinator would count the call as
 * still in flight, and could name it as the one a rank was stuck in.
 */
export type Returned = (step: StepName, call: string) => void;

/** What a failure record carries besides the call: the pointer it was about, the peer, a detail. */
export interface Failure {
  ptr?: Ptr;
  peer?: FailureRecord['peer'];
  detail?: string;
}

/** What the recorder reads of the rank when a call fails. */
export interface RecorderContext {
  cuda(): Cuda | null;
  rank(): number;
  captureSnapshot(): CaptureSnapshot | null;
}

/** A status for something that is not a CUDA call (an exchange check, a thrown error). */
export function pseudoStatus(call: string, name: string, message: string): CudaStatus {
  return { ok: false, code: -1, name, message, call };
}

function errorCode(status: CudaStatus): ErrorCode {
  return { code: status.code, name: status.name, message: status.message };
}

/** What one step produced: its calls, its failures, and notes for a person. */
export class StepLog {
  readonly calls: CallRecord[] = [];
  readonly failures: FailureRecord[] = [];
  readonly notes: string[] = [];
  constructor(readonly step: StepName) {}
}

export class CallRecorder {
  log: StepLog = new StepLog('init');

  constructor(
    readonly announce: Announce,
    private readonly context: RecorderContext,
  ) {}

  begin(step: StepName): void {
    this.log = new StepLog(step);
  }

  note(text: string): void {
    this.log.notes.push(text);
  }

  failed(): boolean {
    return this.log.failures.length > 0;
  }

  /**
   * Makes one call: announce it, note the last error before, record the result. `made`: a call
   * made before the step (early-init.ts), with the last error it saw before.
   */
  async call<T extends CudaStatus>(entry: string, method: string, args: CallArguments, fn: () => T | Promise<T>, failure: Failure = {}, made?: { before?: CudaStatus }): Promise<T> {
    this.announce(this.log.step, entry, method, args);
    const cuda = this.context.cuda();
    // An ...Async call runs on a worker thread, whose last-error slot this thread cannot read.
    const before = made ? made.before : cuda && !method.endsWith('Async') ? cuda.peekAtLastError() : undefined;
    const result = await fn();
    if (result.ok) this.succeeded(result.call || entry, method, args);
    else this.fail(method, args, result, failure, before);
    return result;
  }

  /**
   * Makes a batch of one call, in order, announced once (the call, and the batch's arguments):
   * the calls that succeeded are one record with their count; a failure is recorded with the
   * arguments and failure details of the entry that failed. True when all succeeded.
   */
  batch(entry: string, method: string, args: CallArguments, fn: () => BatchLaunchStatus, entryArgs: (i: number) => CallArguments, failureOf: (i: number) => Failure = () => ({})): boolean {
    this.announce(this.log.step, entry, method, args);
    const before = this.context.cuda()?.peekAtLastError();
    const result = fn();
    if (result.launched > 0) this.succeeded(entry, method, args, result.launched);
    if (result.ok) return true;
    this.fail(method, entryArgs(result.launched), result, failureOf(result.launched), before);
    return false;
  }

  /** A teardown call: recorded, and a failure does not stop the ones after it. */
  teardownCall(entry: string, method: string, args: CallArguments, fn: () => CudaStatus): void {
    this.announce('teardown', entry, method, args);
    this.teardownRecord(entry, method, args, fn);
  }

  /**
   * One teardown call per item, announced once for all (thousands of closes a rank at the
   * largest sizes): each recorded, a failure with its own arguments, and none stops the rest.
   */
  teardownCalls<T>(entry: string, method: string, items: readonly T[], argsOf: (item: T) => CallArguments, fn: (item: T) => CudaStatus, failureOf: (item: T) => Failure = () => ({})): void {
    if (items.length === 0) return;
    this.announce('teardown', entry, method, { count: items.length });
    for (const item of items) this.teardownRecord(entry, method, argsOf(item), () => fn(item), () => failureOf(item));
  }

  private teardownRecord(entry: string, method: string, args: CallArguments, fn: () => CudaStatus, failureOf: () => Failure = () => ({})): void {
    const before = this.context.cuda()?.peekAtLastError();
    const status = fn();
    if (status.ok) this.succeeded(status.call || entry, method, args);
    else this.fail(method, args, status, failureOf(), before);
  }

  /** A successful call; repeats of the same call in a row are counted on one record. */
  succeeded(call: string, method: string, args: CallArguments, count = 1): void {
    const last = this.log.calls[this.log.calls.length - 1];
    if (last && last.ok && last.call === call && last.method === method) {
      last.count += count;
      return;
    }
    this.log.calls.push({ call, method, args, ok: true, code: 0, name: 'cudaSuccess', message: 'no error', count });
  }

  /** Records a failing call with the last-error slot, the pointer's provenance and the capture state. */
  fail(method: string, args: CallArguments, status: CudaStatus, failure: Failure, before?: CudaStatus): void {
    const cuda = this.context.cuda();
    const record: CallRecord = {
      call: status.call || method,
      method,
      args,
      ok: false,
      code: status.code,
      name: status.name,
      message: status.message,
      count: 1,
    };
    if (cuda && before) {
      const afterPeek = cuda.peekAtLastError();
      const afterGet = cuda.getLastError();
      record.lastError = { before: errorCode(before), afterPeek: errorCode(afterPeek), afterGet: errorCode(afterGet) };
      record.origin = before.code !== 0 && before.code === status.code ? 'stale' : 'own';
    }
    this.log.calls.push(record);
    this.log.failures.push({
      rank: this.context.rank(),
      step: this.log.step,
      call: record,
      provenance: failure.ptr !== undefined ? this.provenanceOf(failure.ptr) : null,
      capture: this.context.captureSnapshot(),
      ...(failure.peer ? { peer: failure.peer } : {}),
      ...(failure.detail !== undefined ? { detail: failure.detail } : {}),
    });
  }

  /** A failure that is no CUDA call: the detail says what was wrong. */
  failWith(method: string, args: CallArguments, call: string, name: string, detail: string, failure: Failure = {}): void {
    this.fail(method, args, pseudoStatus(call, name, detail), { ...failure, detail: failure.detail ?? detail });
  }

  private provenanceOf(ptr: Ptr): FailureRecord['provenance'] {
    const cuda = this.context.cuda();
    if (!cuda) return null;
    const answer = cuda.pointerAttributes(ptr);
    return answer.ok ? toProvenance(answer.value) : null;
  }
}
