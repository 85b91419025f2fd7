// Reading a snapshot back: input that is not a snapshot this version reads is refused with a
// SnapshotFormatError that names its source.
import { describe, expect, it } from 'vitest';
import { captureEnvironment } from '../../lib/env/capture.js';
import { parseSnapshot, SnapshotFormatError } from '../../lib/env/read-snapshot.js';

describe('parseSnapshot on malformed input', () => {
  const good = (): Record<string, unknown> => JSON.parse(JSON.stringify(captureEnvironment({ env: { A: '1' } }))) as Record<string, unknown>;
  const cases: Array<[string, unknown, RegExp]> = [
    ['not an object', [1, 2], /top level is not a JSON object/],
    ['null', null, /top level/],
    ['another schema', { ...good(), schema: 'cuipc.report' }, /"schema" is "cuipc\.report"/],
    ['a future version', { ...good(), schemaVersion: 2 }, /"schemaVersion" is 2; this cuipc reads version 1/],
    ['environment not an object', { ...good(), environment: 'PATH=/bin' }, /"environment" must be an object of strings/],
    ['a non-string value', { ...good(), relevant: { CUDA_VISIBLE_DEVICES: 0 } }, /"relevant\.CUDA_VISIBLE_DEVICES" must be a string/],
    ['preload not an array', { ...good(), preload: {} }, /"preload" must be an array/],
    ['a preload entry without a name', { ...good(), preload: [{}] }, /"preload\[0\]"/],
    ['a device without a uuid', { ...good(), devices: [{ ordinal: 0 }] }, /"devices\[0\]"/],
  ];
  for (const [name, data, message] of cases) {
    it(`rejects ${name}, naming the source`, () => {
      expect(() => parseSnapshot(data, 'some/file.json')).toThrow(SnapshotFormatError);
      expect(() => parseSnapshot(data, 'some/file.json')).toThrow(message);
      expect(() => parseSnapshot(data, 'some/file.json')).toThrow(/^some\/file\.json: not a cuipc environment snapshot/);
    });
  }
});
