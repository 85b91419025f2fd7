// `cuipc trace`: the CUPTI injection library's trace format, its summary and the runner.
export * from './format.js';
export { codeText, type CodeText } from './codes.js';
export {
  describeOrigin,
  findOrigin,
  summarizeProcess,
  summarizeTraceDir,
  summarizeTracePath,
  summarizeTraces,
  toReportProvenance,
  type AllocationOrigin,
  type CaptureView,
  type ProcessState,
  type ProcessSummary,
  type TraceFailure,
  type TraceSummary,
} from './summary.js';
export { renderTraceSummary, summaryIsQuiet, SYNTHETIC_BANNER, type RenderOptions } from './render.js';
export { findInjectionLibrary, runTraced, TraceUnavailableError, INJECTION_LIBRARY, type TraceRunOptions, type TraceRunResult } from './run.js';
