// startRaySession: the one Ray a bisect's probes join. A cluster that exists is joined, not
// started again; a Python that cannot run the session is named at once. (The local-Ray case is
// test/bisect/ray.test.ts's: one Ray session folder for a whole bisect.)
import { describe, expect, it } from 'vitest';
import { RaySessionError, startRaySession } from '../../lib/launch/ray-session.js';
import { describeWithRay, startTestCluster } from './ray-cluster.js';

describe('startRaySession (no Ray needed)', () => {
  it('a Python that cannot be started: RaySessionError naming it, at once', async () => {
    const started = Date.now();
    await expect(startRaySession({ python: 'no-such-python-cuipc', address: null }, 2, 'sim')).rejects.toThrow(RaySessionError);
    await expect(startRaySession({ python: 'no-such-python-cuipc', address: null }, 2, 'sim')).rejects.toThrow(/no-such-python-cuipc -m cuipc_ray\.session\) could not be started/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describeWithRay('startRaySession with a cluster (real Ray)', (python) => {
  it('joins the cluster at the address given: starts nothing, and the probes get that address', async () => {
    const cluster = await startTestCluster(python);
    try {
      const session = await startRaySession({ python, address: cluster.address }, 2, 'sim');
      expect(session).toMatchObject({ started: false, address: cluster.address });
      await session.stop();
    } finally {
      await cluster.stop();
    }
  }, 120_000);
});
