import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  METRICS_PORT,
  NAMESPACE,
  auditJob,
  manifestFiles,
  metricsService,
  serviceMonitor,
  watchDaemonSet,
} from '../../src/deploy/kubernetesManifests.js';

const DIR = new URL('../../deploy/kubernetes/', import.meta.url);

describe('deploy/kubernetes', () => {
  it('holds exactly the generated files, unedited (npm run manifests rewrites them)', () => {
    const files = manifestFiles();
    expect(readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort()).toEqual(Object.keys(files).sort());
    for (const [name, text] of Object.entries(files)) expect({ name, text: readFileSync(new URL(name, DIR), 'utf8') }).toEqual({ name, text });
  });

  it('each file is one YAML document that reads back as the typed object', () => {
    const objects: Record<string, object> = {
      'watch-daemonset.yaml': watchDaemonSet(),
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
  const ds = watchDaemonSet('registry.example/repro:1.0');
  const pod = ds.spec?.template.spec;
  const c = pod?.containers[0];

  it("reads the node's own namespaces on every node", () => {
    expect(ds.apiVersion).toBe('apps/v1');
    expect(ds.metadata?.namespace).toBe(NAMESPACE);
    expect(pod?.hostNetwork).toBe(true);
    expect(pod?.hostPID).toBe(true);
    expect(pod?.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(ds.spec?.selector.matchLabels).toEqual(ds.spec?.template.metadata?.labels);
  });

  it('runs repro watch --prometheus on the pod (= node) address, with the image asked for', () => {
    expect(pod?.containers).toHaveLength(1);
    expect(c?.image).toBe('registry.example/repro:1.0');
    expect([...(c?.command ?? []), ...(c?.args ?? [])]).toEqual(['/usr/local/bin/node', '/opt/repro/dist/cli.js', 'watch', '--prometheus', `$(POD_IP):${METRICS_PORT}`, '--interval', '15']);
    expect(c?.env).toEqual([{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }]);
    expect(c?.ports).toEqual([{ name: 'metrics', containerPort: METRICS_PORT, protocol: 'TCP' }]);
    expect(c?.readinessProbe?.httpGet).toEqual({ path: '/metrics', port: 'metrics' });
  });

  it('may change nothing: read-only root, no escalation, CAP_NET_ADMIN alone (the netlink fallback)', () => {
    expect(c?.securityContext).toEqual({
      runAsUser: 0,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'], add: ['NET_ADMIN'] },
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
