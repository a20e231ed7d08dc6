import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addressesOfIfInet6, localAddressesOfFibTrie, podOfCgroupFile, podOfCgroupPath, podOfLogDir, readPodLogDirs } from '../../src/node/trace/podOwners.js';

const UID = '6b3c2a1e-9f0d-4c8b-a7e6-5d4c3b2a1f09';
const UID_ = UID.replace(/-/g, '_');
const ID = 'a'.repeat(40) + '0123456789abcdef01234567';

// Kubelet's names (kubernetes/kubernetes pkg/kubelet/cm/cgroup_manager_linux.go): the pod component is
// GetPodCgroupNameSuffix = "pod" + UID; systemd's form escapes each '-' to '_' (escapeSystemdCgroupName) and expands
// {kubepods, burstable, pod<uid>} to /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice;
// cgroupfs' form is "/" + path.Join(components). The runtime's scope below it: cri-containerd-/crio-/docker-<id>.scope.
describe('podOfCgroupPath: kubelet cgroup names', () => {
  it.each([
    ['v2, systemd, containerd, burstable', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`, { uid: UID, containerId: ID, runtime: 'containerd' }],
    ['systemd, cri-o, besteffort', `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/crio-${ID}.scope`, { uid: UID, containerId: ID, runtime: 'cri-o' }],
    ['systemd, docker (cri-dockerd), guaranteed', `/kubepods.slice/kubepods-pod${UID_}.slice/docker-${ID}.scope`, { uid: UID, containerId: ID, runtime: 'docker' }],
    ['cgroupfs, burstable', `/kubepods/burstable/pod${UID}/${ID}`, { uid: UID, containerId: ID }],
    ['cgroupfs, guaranteed', `/kubepods/pod${UID}/${ID}`, { uid: UID, containerId: ID }],
    ['the pod cgroup itself', `/kubepods.slice/kubepods-pod${UID_}.slice`, { uid: UID }],
    ['seen from a private cgroup namespace', `/../../kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`, { uid: UID, containerId: ID, runtime: 'containerd' }],
    ['a static pod (32-hex UID)', `/kubepods/besteffort/pod${'f'.repeat(32)}/${ID}`, { uid: 'f'.repeat(32), containerId: ID }],
    ['a pod cgroup planted below the real one (a delegated subtree) does not rename it', `/kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope/kubepods-pod${'1'.repeat(32)}.slice`, { uid: UID, containerId: ID, runtime: 'containerd' }],
    ['a crio conmon scope names the pod only', `/kubepods.slice/kubepods-pod${UID_}.slice/crio-conmon-${ID}.scope`, { uid: UID }],
  ])('%s', (_what, path, want) => {
    expect(podOfCgroupPath(path)).toEqual(want);
  });

  it.each([
    ['a host service', '/system.slice/containerd.service'],
    ['a UID of the wrong shape', `/kubepods/besteffort/pod${UID}x/${ID}`],
    ['upper-case hex', `/kubepods/pod${UID.toUpperCase()}/${ID}`],
    ['dashes in a systemd pod slice (kubelet escapes them)', `/kubepods.slice/kubepods-pod${UID}.slice`],
    ['control characters', `/kubepods/pod${UID}\u001b]0;x\u0007/${ID}`],
    ['a too-long UID', `/kubepods/pod${UID}0000/${ID}`],
  ])('no pod: %s', (_what, path) => {
    expect(podOfCgroupPath(path)).toBeNull();
  });

  it('a /proc/<pid>/cgroup file: v1 hierarchies and the v2 line', () => {
    const v1 = `12:pids:/kubepods/burstable/pod${UID}/${ID}\n11:memory:/kubepods/burstable/pod${UID}/${ID}\n0::/\n`;
    expect(podOfCgroupFile(v1)).toEqual({ uid: UID, containerId: ID });
    expect(podOfCgroupFile(`0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope\n`)?.uid).toBe(UID);
    expect(podOfCgroupFile('0::/user.slice/user-0.slice/session-1.scope\n')).toBeNull();
    expect(podOfCgroupFile(`garbage pod${UID}\n`)).toBeNull();
  });
});

describe('podOfLogDir: <namespace>_<name>_<uid> (kuberuntime BuildPodLogsDirectory)', () => {
  it('names a pod', () => {
    expect(podOfLogDir(`kube-system_coredns-5d78c9869d-x7k2p_${UID}`)).toEqual({ namespace: 'kube-system', name: 'coredns-5d78c9869d-x7k2p', uid: UID });
    expect(podOfLogDir(`default_web.v2-0_${UID}`)).toEqual({ namespace: 'default', name: 'web.v2-0', uid: UID });
  });
  it.each([
    ['a control sequence in the name', `default_we\u001b[2Jb_${UID}`],
    ['a newline', `default_web\n_${UID}`],
    ['upper case', `default_Web_${UID}`],
    ['an extra field', `default_web_x_${UID}`],
    ['a namespace over 63 characters', `${'a'.repeat(64)}_web_${UID}`],
    ['a name over 253 characters', `default_${'a'.repeat(254)}_${UID}`],
    ['a bad UID', `default_web_${UID.slice(1)}`],
    ['path parts', `.._.._${UID}`],
    ['a leading dash', `-x_web_${UID}`],
  ])('refuses %s', (_what, dir) => {
    expect(podOfLogDir(dir)).toBeNull();
  });

  it('reads directory names only, never follows the root\'s entries, skips the wrong shapes', async () => {
    const root = mkdtempSync(join(tmpdir(), 'repro-podlogs-'));
    try {
      mkdirSync(join(root, `default_web_${UID}`));
      mkdirSync(join(root, `default_Evil\u001b_${UID.replace('6b', '7b')}`));
      // A symlink is listed by name only: nothing behind it is opened or read.
      symlinkSync('/proc/self/environ', join(root, `ns_link_${UID.replace('6b', '8b')}`));
      writeFileSync(join(root, 'README'), 'x');
      const got = await readPodLogDirs(root);
      expect([...got.values()].map((p) => `${p.namespace}/${p.name}`).sort()).toEqual(['default/web', 'ns/link']);
      expect(await readPodLogDirs(join(root, 'missing'))).toEqual(new Map());
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('a namespace\'s addresses', () => {
  // The format of this host's /proc/net/fib_trie (net/ipv4/fib_trie.c fib_trie_seq_show).
  const fib = `Main:
  +-- 0.0.0.0/0 3 0 4
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.77.1.0/24 2 0 2
        +-- 10.77.1.0/30 2 0 2
           |-- 10.77.1.0
              /24 link UNICAST
           |-- 10.77.1.2
              /32 host LOCAL
        |-- 10.77.1.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 4
     +-- 127.0.0.0/8 2 0 2
           |-- 127.0.0.1
              /32 host LOCAL
     |-- 10.88.0.0
        /16 link UNICAST
        /32 host LOCAL
     |-- 10.77.1.2
        /32 host LOCAL
`;
  it('fib_trie: the LOCAL leaves, once, loopback left out (a leaf with several prefixes too)', () => {
    expect(localAddressesOfFibTrie(fib).sort()).toEqual(['10.77.1.2', '10.88.0.0']);
    expect(localAddressesOfFibTrie('  |-- 1.2.3.4\n  /32 host LOCAL junk\n')).toEqual([]);
  });
  it('if_inet6: global addresses, compressed; link-local and loopback left out', () => {
    const text = [
      '00000000000000000000000000000001 01 80 10 80       lo',
      'fe800000000000000042e2fffe991990 05 40 20 80  docker0',
      'fd000000000000000000000000000002 04 40 00 82     eth0',
      'fd00000000000000000000000000\u001b002 04 40 00 82     eth0',
    ].join('\n');
    expect(addressesOfIfInet6(text)).toEqual(['fd00::2']);
  });
});
