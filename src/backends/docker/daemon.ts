import Docker from 'dockerode';
import { PrerequisiteError } from '../../errors.js';

/** Where dockerode will look (DOCKER_HOST honoured), for messages. */
export function daemonAddress(): string {
  return process.env['DOCKER_HOST'] ?? 'unix:///var/run/docker.sock';
}

/** A dockerode client whose daemon has answered a ping, or a one-line error saying what to do. */
export async function connectDocker(timeoutMs = 3000): Promise<{ docker: Docker; version: string }> {
  const docker = new Docker();
  try {
    const version = await Promise.race([
      docker.version().then((v) => v.Version),
      new Promise<never>((_, reject) => setTimeout(() => reject(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })), timeoutMs).unref()),
    ]);
    return { docker, version };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES') {
      throw new PrerequisiteError(`permission denied on ${daemonAddress()}: run as root or add the user to the docker group`);
    }
    throw new PrerequisiteError(
      `no Docker daemon answers at ${daemonAddress()}: start it (systemctl start docker, or dockerd &) or use --backend netns`,
    );
  }
}

/** Does a daemon answer? (for --backend auto) */
export async function dockerAnswers(timeoutMs = 1500): Promise<boolean> {
  try {
    await connectDocker(timeoutMs);
    return true;
  } catch {
    return false;
  }
}
