// Small numeric helpers shared by the bench sections.

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Nanoseconds since an arbitrary origin, as a Number (differences fit easily). */
export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

export function formatNs(ns: number): string {
  if (!Number.isFinite(ns)) return 'n/a';
  if (ns < 1000) return `${(ns / 1000).toFixed(3)} us`;
  if (ns < 1_000_000) return `${(ns / 1000).toFixed(2)} us`;
  return `${(ns / 1_000_000).toFixed(1)} ms`;
}

export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return 'n/a';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
}

export function formatKiB(kib: number | null): string {
  if (kib === null || !Number.isFinite(kib)) return 'n/a';
  return `${(kib / 1024).toFixed(1)} MB`;
}

/** "1.23x"; n/a when either side is missing. */
export function formatRatio(numerator: number, denominator: number): string {
  if (!Number.isFinite(numerator) || !Number.isFinite(denominator) || denominator <= 0) return 'n/a';
  const ratio = numerator / denominator;
  return `${ratio >= 100 ? ratio.toFixed(0) : ratio.toFixed(2)}x`;
}
