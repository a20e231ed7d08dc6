import { startSynCapture, type SynCapture } from '../../host/capture.js';
import { buildEvidence } from '../../analysis/evidence.js';
import type { Topology } from '../../backends/topology.js';
import type { MasqueradeMode } from '../../types.js';
import type { ModeCapture } from '../shared/modeLoop.js';
import type { RunScope } from '../shared/runScope.js';

/**
 * The tcp-syn capture step: SYNs towards the server on every interface where the NAT is (the router namespace, or
 * the host for docker), matched into the mode's evidence. A capture a failed mode leaves running is cancelled at
 * teardown; one a killed runner leaves stops by itself after maxMs (the mode's bound, and some).
 */
export function synEvidenceStep(scope: RunScope, t: Topology, serverPort: number, maxMs: number): (mode: MasqueradeMode) => Promise<ModeCapture> {
  let running: SynCapture | null = null;
  scope.onTeardown(async () => running?.cancel());
  return async (mode) => {
    const capture = await startSynCapture({ runId: t.runId, netns: t.natNetns, server: t.server.address, port: serverPort, maxMs });
    running = capture;
    return {
      stop: async (loadStartedAtMs) => {
        const read = await capture.stop();
        running = null;
        return buildEvidence({
          syns: read.syns,
          clientSubnet: t.clientSubnet,
          server: { address: t.server.address, port: serverPort },
          loadStartedAtMs,
          // A line that could not be read is a SYN the evidence lacks, as much as one the kernel dropped.
          capturedDrops: read.kernelDrops + read.unparsed,
          // Without a flag MASQUERADE keeps the client's port when it can: the lost SYN needed exactly that outer port.
          portKept: mode === 'none',
        });
      },
    };
  };
}
