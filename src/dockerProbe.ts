import Docker from 'dockerode';

/** Does a Docker daemon answer (DOCKER_HOST honoured)? Bounded to a short timeout. */
export async function dockerAnswers(timeoutMs = 1500): Promise<boolean> {
  const docker = new Docker();
  const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref());
  const ping = docker.ping().then(() => true, () => false);
  return Promise.race([ping, timeout]);
}
