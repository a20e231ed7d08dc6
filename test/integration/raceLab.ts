import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { netnsName, newRunId } from '../../src/host/names.js';

/**
 * A lab of the tests' own, entirely in namespaces (nothing in the host namespace): two clients on links of their own
 * into a router namespace, which masquerades (no flag) towards a server namespace. The server namespace has no
 * listener: its RST answers every SYN that reaches it, so a SYN that never gets an answer is one the router dropped.
 * Names follow the harness's shape (repro-<id>-<role>) so that `repro cleanup` finds them after a crash.
 */
export interface RaceLab {
  router: string;
  clients: [string, string];
  server: string;
  serverIp: string;
  /** Two clients binding one source port at once, `rounds` times; returns the SYNs that got no answer. */
  race(rounds: number, firstPort?: number): Promise<{ rounds: number; unanswered: number }>;
  /** Run a command inside one of the lab's namespaces. */
  exec(netns: string, cmd: string, args: string[]): string;
  destroy(): void;
}

const SOURCE = fileURLToPath(new URL('./samePortRace.c', import.meta.url));

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function compileRacer(dir: string): string {
  const bin = path.join(dir, 'samePortRace');
  sh('cc', ['-O2', '-pthread', '-o', bin, SOURCE]);
  return bin;
}

export function buildRaceLab(): RaceLab {
  const id = newRunId();
  const router = netnsName(id, 'rtr');
  const clients: [string, string] = [netnsName(id, 'c1'), netnsName(id, 'c2')];
  const server = netnsName(id, 'srv');
  const all = [router, ...clients, server];
  const dir = mkdtempSync(path.join(tmpdir(), 'repro-racelab-'));
  const destroy = (): void => {
    for (const ns of all) {
      try {
        sh('ip', ['netns', 'del', ns]);
      } catch {
        // not created (a failed build): nothing to remove
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const inNs = (ns: string, cmd: string, args: string[]): string => sh('ip', ['netns', 'exec', ns, cmd, ...args]);
  try {
    const bin = compileRacer(dir);
    for (const ns of all) sh('ip', ['netns', 'add', ns]);
    // Links are created inside the router namespace with their peer placed straight into the other one.
    const links: [string, string, string][] = [
      [clients[0], '10.77.1.1/24', '10.77.1.2/24'],
      [clients[1], '10.77.2.1/24', '10.77.2.2/24'],
      [server, '10.77.9.1/24', '10.77.9.2/24'],
    ];
    links.forEach(([peer, routerAddr, peerAddr], i) => {
      sh('ip', ['-n', router, 'link', 'add', `r${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer]);
      sh('ip', ['-n', router, 'addr', 'add', routerAddr, 'dev', `r${i}`]);
      sh('ip', ['-n', router, 'link', 'set', `r${i}`, 'up']);
      sh('ip', ['-n', peer, 'addr', 'add', peerAddr, 'dev', 'eth0']);
      sh('ip', ['-n', peer, 'link', 'set', 'eth0', 'up']);
      sh('ip', ['-n', peer, 'link', 'set', 'lo', 'up']);
      if (peer !== server) sh('ip', ['-n', peer, 'route', 'add', 'default', 'via', routerAddr.split('/')[0] ?? '']);
    });
    inNs(router, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    inNs(router, 'iptables', ['-t', 'nat', '-A', 'POSTROUTING', '-o', 'r2', '-j', 'MASQUERADE']);
    const serverIp = '10.77.9.2';
    return {
      router,
      clients,
      server,
      serverIp,
      async race(rounds, firstPort = 20000) {
        // Asynchronous, so that a test's timeout still fires (and its finally removes the lab) while it runs.
        const { stdout: out } = await promisify(execFile)(bin, [`/run/netns/${clients[0]}`, `/run/netns/${clients[1]}`, serverIp, '80', String(firstPort), String(rounds)], { encoding: 'utf8', timeout: 120_000 });
        const m = /rounds=(\d+) unanswered=(\d+)/.exec(out);
        if (!m) throw new Error(`samePortRace: unexpected output "${out}"`);
        return { rounds: Number(m[1]), unanswered: Number(m[2]) };
      },
      exec: inNs,
      destroy,
    };
  } catch (err) {
    destroy();
    throw err;
  }
}
