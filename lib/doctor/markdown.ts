// `cuipc doctor --format markdown`: the doctor's report as an issue report (lib/report/markdown.ts
// renders it): its answer and fixes, the driver, runtime and devices it found, the variables its
// hazards name (with the values the report holds, already redacted), the full text as evidence.
import { renderIssueMarkdown, variablesOf, type IssueReport } from '../report/markdown.js';
import { doctorAnswer, renderDoctor, type DoctorReport } from './index.js';

function version(v: number | null | undefined): string {
  return v ? `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}` : 'unknown';
}

export function doctorIssue(report: DoctorReport): IssueReport {
  const l = report.loader;
  const names = report.devices.map((d) => d.info?.name ?? 'unknown device');
  return {
    command: 'cuipc doctor',
    simulated: report.simulated,
    answer: doctorAnswer(report),
    environment: [
      ['CUDA driver', l.driver ? `${version(report.versions.driver)} (${l.driver.path})` : 'not found'],
      ['CUDA runtime', l.runtime ? `${version(report.versions.runtime)} (${l.runtime.path})` : 'not found'],
      ['Devices', names.length ? names.join(', ') : 'none'],
      ['CUDA_VISIBLE_DEVICES', report.cudaVisibleDevices ?? '(unset)'],
      ['Verdict', `${report.verdict}: ${report.summary}`],
    ],
    variables: variablesOf(report.hazards),
    libraries: l.allocation.filter((a) => a.interposed).map((a) => `${a.symbol} from ${a.path} (interposed)`),
    evidence: renderDoctor(report),
  };
}

export function renderDoctorMarkdown(report: DoctorReport): string {
  return renderIssueMarkdown(doctorIssue(report));
}
