import { UserError } from '../errors.js';
import { buildNetnsTopology } from './netns/topology.js';
import { buildDockerTopology } from './docker/topology.js';
import { connectDocker, dockerAnswers } from './docker/daemon.js';
import type { RunStateFile } from '../runner/runState.js';
import type { Topology, TopologyRequest } from './topology.js';
import type { BackendName } from '../types.js';

export type BuildTopology = (req: TopologyRequest, state: RunStateFile) => Promise<Topology>;

/**
 * `--backend auto|netns|docker` (auto: docker when a daemon answers, else netns) to the topology builder to
 * run on. A docker backend that was asked for but does not answer is a one-line error (exit 2).
 */
export async function chooseBackend(
  requested: string,
  image: string | undefined,
  phase: (text: string) => void,
): Promise<{ backend: BackendName; build: BuildTopology }> {
  const useDocker = requested === 'docker' || (requested === 'auto' && (await dockerAnswers()));
  if (!useDocker) {
    if (image) throw new UserError('--image needs the docker backend (--backend docker, or auto with a running daemon)');
    return { backend: 'netns', build: buildNetnsTopology };
  }
  const { docker, version } = await connectDocker();
  phase(`backend docker (daemon ${version}${requested === 'auto' ? ', chosen because it answers' : ''})`);
  return { backend: 'docker', build: (req, state) => buildDockerTopology(req, state, { docker, version, image, onPhase: phase }) };
}
