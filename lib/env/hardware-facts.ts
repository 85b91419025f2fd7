// How reports cite what the hardware does: anchors of docs/hardware-facts.md, the page of
// measured H200 facts shipped in the package. The anchors cited are listed once here, so a
// test can hold each to the page (test/env/hardware-facts.test.ts).
export const FACTS_PAGE = 'docs/hardware-facts.md';

export const FACT_ANCHORS = [
  'cudamalloc-exportable',
  'vmm-not-exportable',
  'vmm-looks-like-device-memory',
  'handle-types',
  'expandable-segments',
  'pool-not-exportable',
  'graph-allocation',
  'managed-not-exportable',
  'host-not-exportable',
  'invalid-pointers',
  'open-own-process',
  'open-zero-handle',
  'capture',
  'last-error',
  'device-ordinal-remapping',
  'not-measured',
] as const;
type FactAnchor = (typeof FACT_ANCHORS)[number];

/** "docs/hardware-facts.md#capture" (several anchors: ", #last-error" after it): where a reader finds the facts an evidence line rests on. */
export function citeFacts(...anchors: [FactAnchor, ...FactAnchor[]]): string {
  return `${FACTS_PAGE}${anchors.map((a) => `#${a}`).join(', ')}`;
}
