import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { V1PodSpec } from '@kubernetes/client-node';
import {
  AUDIT_DEADLINE_SECONDS,
  IMAGE_PLACEHOLDER,
  METRICS_PORT,
  NAMESPACE,
  auditJob,
  checkPinnedImage,
  dockerRunOptions,
  manifestFiles,
  metricsService,
  serviceMonitor,
  watchDaemonSet,
} from '../../src/deploy/kubernetesManifests.js';

const DIR = new URL('../../deploy/kubernetes/', import.meta.url);
const IMAGE = `registry.example/repro@sha256:${'ab'.repeat(32)}`;

describe('deploy/kubernetes', () => {
  it('holds exactly the generated files, unedited (npm run manifests rewrites them)', () => {
    const files = manifestFiles();
    expect(readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort()).toEqual(Object.keys(files).sort());
    for (const [name, text] of Object.entries(files)) expect({ name, text: readFileSync(new URL(name, DIR), 'utf8') }).toEqual({ name, text });
  });

  it('each file is one YAML document that reads back as the typed object', () => {
    const objects: Record<string, object> = {
      'watch-daemonset.yaml': watchDaemonSet(),
      'watch-trace-daemonset.yaml': watchDaemonSet(undefined, { trace: true }),
      'watch-service.yaml': metricsService(),
      'watch-servicemonitor.yaml': serviceMonitor(),
      'audit-job.yaml': auditJob(),
    };
    for (const [name, object] of Object.entries(objects)) {
      const docs = parseAllDocuments(readFileSync(new URL(name, DIR), 'utf8'));
      expect(docs).toHaveLength(1);
      expect(docs[0]?.errors).toEqual([]);
      expect(docs[0]?.toJS()).toEqual(object);
    }
  });
});

describe('the DaemonSet', () => {
  const ds = watchDaemonSet(IMAGE);
  const pod = ds.spec?.template.spec;
  const c = pod?.containers[0];

  it("reads the node's own namespaces on every node", () => {
    expect(ds.apiVersion).toBe('apps/v1');
    expect(ds.metadata?.namespace).toBe(NAMESPACE);
    expect(pod?.hostNetwork).toBe(true);
    expect(pod?.hostPID).toBe(false);
    expect(pod?.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(ds.spec?.selector.matchLabels).toEqual(ds.spec?.template.metadata?.labels);
  });

  it('runs repro watch --prometheus on the pod (= node) address, with the image asked for', () => {
    expect(pod?.containers).toHaveLength(1);
    expect(c?.image).toBe(IMAGE);
    expect([...(c?.command ?? []), ...(c?.args ?? [])]).toEqual(['/usr/local/bin/node', '/opt/repro/dist/cli.js', 'watch', '--prometheus', `$(POD_IP):${METRICS_PORT}`, '--interval', '15']);
    expect(c?.env).toEqual([{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }]);
    expect(c?.ports).toEqual([{ name: 'metrics', containerPort: METRICS_PORT, protocol: 'TCP' }]);
    expect(c?.readinessProbe?.httpGet).toEqual({ path: '/metrics', port: 'metrics' });
  });

  it('may change nothing: not root, no capability, read-only root, no escalation', () => {
    expect(c?.securityContext).toEqual({
      runAsUser: 65534,
      runAsGroup: 65534,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(c?.securityContext?.privileged).toBeUndefined();
    expect(c?.volumeMounts).toBeUndefined();
    expect(pod?.volumes).toBeUndefined();
    expect(pod?.automountServiceAccountToken).toBe(false);
  });
});

describe('the audit Job', () => {
  const job = auditJob();
  const pod = job.spec?.template.spec;
  const c = pod?.containers[0];
  it('runs repro audit --json once on the node named in its selector', () => {
    expect(job.kind).toBe('Job');
    expect(job.spec?.backoffLimit).toBe(0);
    // A hung audit (a FIFO a pod planted, #25) is ended by Kubernetes.
    expect(job.spec?.activeDeadlineSeconds).toBe(AUDIT_DEADLINE_SECONDS);
    expect(AUDIT_DEADLINE_SECONDS).toBeGreaterThan(0);
    expect(pod?.restartPolicy).toBe('Never');
    expect(Object.keys(pod?.nodeSelector ?? {})).toEqual(['kubernetes.io/hostname']);
    expect(c?.args).toEqual(['audit', '--json', '--fail-on', 'never']);
    expect(pod?.hostNetwork).toBe(true);
    expect(pod?.hostPID).toBe(true);
  });
  it('reads rules and containers, writes nothing', () => {
    expect(c?.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(c?.securityContext?.allowPrivilegeEscalation).toBe(false);
    expect(c?.securityContext?.capabilities).toEqual({ drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW', 'SYS_PTRACE'] });
  });
});

describe('the Service and ServiceMonitor', () => {
  it("select the DaemonSet's pods and its metrics port by name", () => {
    const ds = watchDaemonSet();
    const svc = metricsService();
    const sm = serviceMonitor();
    expect(svc.spec?.selector).toEqual(ds.spec?.template.metadata?.labels);
    expect(svc.spec?.clusterIP).toBe('None');
    expect(svc.spec?.ports).toEqual([{ name: 'metrics', port: METRICS_PORT, targetPort: 'metrics', protocol: 'TCP' }]);
    expect(sm.spec.selector.matchLabels).toEqual(svc.metadata?.labels);
    expect(sm.spec.namespaceSelector.matchNames).toEqual([svc.metadata?.namespace]);
    expect(sm.spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '30s' }]);
  });
});

/**
 * What each command needs of the node, said here apart from the manifests (the privileges review of #25): a manifest
 * that grants more, or less, fails. Every pod: the RuntimeDefault seccomp profile, no privileged mode, no escalation,
 * a read-only root, the node's network namespace, an image pinned by digest.
 */
const NEEDS: Record<string, { command: string[]; root: boolean; hostPID: boolean; caps: string[]; readOnlyHostPaths: string[]; scratch?: string }> = {
  // /proc/net/stat/nf_conntrack and nf_conntrack_max are 0444 in the node's namespace.
  'watch-daemonset.yaml': { command: ['watch'], root: false, hostPID: false, caps: [], readOnlyHostPaths: [] },
  // bpftrace: bpf(2), perf_event_open on tracepoints, BTF and tracefs; ctnetlink for partners. Pod names without a
  // runtime socket: every process's /proc/<pid>/ns/net (hostPID; a ptrace-mode read check: SYS_PTRACE) and cgroup,
  // and the kubelet's log directory names.
  'watch-trace-daemonset.yaml': { command: ['watch', '--trace'], root: true, hostPID: true, caps: ['BPF', 'NET_ADMIN', 'PERFMON', 'SYS_ADMIN', 'SYS_PTRACE'], readOnlyHostPaths: ['/sys/kernel/btf', '/sys/kernel/tracing', '/var/log/pods'], scratch: '/run/repro' },
  // /proc/<pid>/root of every container; iptables-save, nft.
  'audit-job.yaml': { command: ['audit'], root: true, hostPID: true, caps: ['NET_ADMIN', 'NET_RAW', 'SYS_PTRACE'], readOnlyHostPaths: [] },
};

describe('privileges: each manifest grants what its command needs, no more', () => {
  const files = manifestFiles(IMAGE);
  for (const [name, need] of Object.entries(NEEDS)) {
    it(name, () => {
      const obj = parseAllDocuments(files[name] ?? '')[0]?.toJS() as { spec: { template: { spec: V1PodSpec } } };
      const pod = obj.spec.template.spec;
      const c = pod.containers[0];
      const sc = c?.securityContext;
      expect(c?.args?.slice(0, need.command.length)).toEqual(need.command);
      expect(pod.securityContext?.seccompProfile).toEqual({ type: 'RuntimeDefault' });
      expect(pod.hostNetwork).toBe(true);
      expect(pod.hostPID ?? false).toBe(need.hostPID);
      expect(pod.hostIPC ?? false).toBe(false);
      expect(sc?.privileged ?? false).toBe(false);
      expect(sc?.allowPrivilegeEscalation).toBe(false);
      expect(sc?.readOnlyRootFilesystem).toBe(true);
      expect(sc?.runAsUser === 0).toBe(need.root);
      if (!need.root) expect(sc?.runAsNonRoot).toBe(true);
      expect(sc?.capabilities?.drop).toEqual(['ALL']);
      expect([...(sc?.capabilities?.add ?? [])].sort()).toEqual(need.caps);
      const vol = (n: string) => pod.volumes?.find((v) => v.name === n);
      const mounts = (c?.volumeMounts ?? []).filter((m) => vol(m.name)?.hostPath).map((m) => ({ path: m.mountPath, ro: m.readOnly, host: vol(m.name)?.hostPath?.path }));
      expect(mounts).toEqual(need.readOnlyHostPaths.map((p) => ({ path: p, ro: true, host: p })));
      // The one writable place: the pod's own memory-backed scratch (the tracer's state file), nothing of the node's.
      const scratch = (c?.volumeMounts ?? []).filter((m) => vol(m.name)?.emptyDir).map((m) => m.mountPath);
      expect(scratch).toEqual(need.scratch ? [need.scratch] : []);
      expect(pod.volumes ?? []).toHaveLength(need.readOnlyHostPaths.length + scratch.length);
      expect(c?.image).toMatch(/@sha256:[0-9a-f]{64}$/);
    });
  }

  it('an image by tag is refused; by digest or the placeholder it is taken', () => {
    expect(() => manifestFiles('registry.example/repro:1.0')).toThrow(/by digest/);
    expect(() => checkPinnedImage('repro@sha256:abc')).toThrow(/by digest/);
    expect(checkPinnedImage(IMAGE)).toBe(IMAGE);
    expect(checkPinnedImage(IMAGE_PLACEHOLDER)).toBe(IMAGE_PLACEHOLDER);
    expect(readFileSync(new URL('watch-daemonset.yaml', DIR), 'utf8')).toContain(`image: ${IMAGE_PLACEHOLDER}`);
  });

  it('docker run gets exactly the pod\'s access (the image test runs it so)', () => {
    const trace = watchDaemonSet(IMAGE, { trace: true }).spec?.template.spec as V1PodSpec;
    expect(dockerRunOptions(trace)).toEqual([
      '--user', '0',
      '--cap-drop', 'ALL',
      '--cap-add', 'BPF', '--cap-add', 'PERFMON', '--cap-add', 'NET_ADMIN', '--cap-add', 'SYS_ADMIN', '--cap-add', 'SYS_PTRACE',
      '--security-opt', 'no-new-privileges',
      '--read-only',
      '--network', 'host',
      '--pid', 'host',
      '-v', '/sys/kernel/btf:/sys/kernel/btf:ro',
      '-v', '/sys/kernel/tracing:/sys/kernel/tracing:ro',
      '-v', '/var/log/pods:/var/log/pods:ro',
      '--tmpfs', '/run/repro:size=1m,mode=0700',
    ]);
    expect(dockerRunOptions(watchDaemonSet(IMAGE).spec?.template.spec as V1PodSpec)).toEqual(['--user', '65534:65534', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '--read-only', '--network', 'host']);
    expect(dockerRunOptions(auditJob(IMAGE).spec?.template.spec as V1PodSpec)).toContain('--pid');
    // Docker 20.10 knows no CAP_BPF/CAP_PERFMON: SYS_ADMIN, which the pod has, grants them.
    const old = dockerRunOptions(trace, { dockerLacks: ['BPF', 'PERFMON'] });
    expect(old.filter((o, i) => old[i - 1] === '--cap-add')).toEqual(['NET_ADMIN', 'SYS_ADMIN', 'SYS_PTRACE']);
    expect(() => dockerRunOptions(auditJob(IMAGE).spec?.template.spec as V1PodSpec, { dockerLacks: ['SYS_PTRACE'] })).toThrow(/cannot grant CAP_SYS_PTRACE/);
  });
});
