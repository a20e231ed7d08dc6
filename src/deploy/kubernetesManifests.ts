import type { V1Container, V1DaemonSet, V1Job, V1LabelSelector, V1Namespace, V1ObjectMeta, V1PodSpec, V1Service } from '@kubernetes/client-node';
import { stringify } from 'yaml';

/**
 * deploy/kubernetes/, generated from typed objects (npm run manifests) so that a unit test checks their shape:
 * a DaemonSet running `repro watch --prometheus` on every node, a Job template running `repro audit --json` on one
 * node, and a Service plus ServiceMonitor for the metrics. Both read the node's own network namespace (hostNetwork,
 * hostPID) and change nothing on it.
 */
export const NAMESPACE = 'repro';
export const METRICS_PORT = 9477;
/** docker/Dockerfile built and pushed to the cluster's registry (docs/nodes.md). */
export const DEFAULT_IMAGE = 'repro:local';

const APP = 'repro';
const CLI = '/opt/repro/dist/cli.js';

const labels = (component: string): Record<string, string> => ({ 'app.kubernetes.io/name': APP, 'app.kubernetes.io/component': component });
const meta = (name: string, component: string): V1ObjectMeta => ({ name, namespace: NAMESPACE, labels: labels(component) });

/** The ServiceMonitor of the Prometheus Operator (monitoring.coreos.com/v1): a CRD, so not among the client's models. */
export interface ServiceMonitor {
  apiVersion: 'monitoring.coreos.com/v1';
  kind: 'ServiceMonitor';
  metadata: V1ObjectMeta;
  spec: {
    selector: V1LabelSelector;
    namespaceSelector: { matchNames: string[] };
    endpoints: { port: string; path: string; interval: string }[];
  };
}

/** What both pods share: the node's network and process namespaces, nothing written, root without escalation. */
function nodeReaderPod(container: V1Container, extra: Partial<V1PodSpec>): V1PodSpec {
  return {
    hostNetwork: true,
    hostPID: true,
    dnsPolicy: 'ClusterFirstWithHostNet',
    automountServiceAccountToken: false,
    tolerations: [{ operator: 'Exists' }],
    containers: [container],
    ...extra,
  };
}

function readOnlyContainer(name: string, image: string, args: string[], capabilities: string[]): V1Container {
  return {
    name,
    image,
    command: ['/usr/local/bin/node', CLI],
    args,
    securityContext: {
      runAsUser: 0,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'], add: capabilities },
    },
  };
}

export function watchDaemonSet(image = DEFAULT_IMAGE): V1DaemonSet {
  const container = readOnlyContainer(
    'watch',
    image,
    // The pod's IP under hostNetwork is the node's: the endpoint listens there only.
    ['watch', '--prometheus', `$(POD_IP):${METRICS_PORT}`, '--interval', '15'],
    // procfs needs none; NET_ADMIN only for the netlink fallback (conntrack -S) on kernels without procfs stats.
    ['NET_ADMIN'],
  );
  container.env = [{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }];
  container.ports = [{ name: 'metrics', containerPort: METRICS_PORT, protocol: 'TCP' }];
  container.readinessProbe = { httpGet: { path: '/metrics', port: 'metrics' }, periodSeconds: 30 };
  container.resources = { requests: { cpu: '10m', memory: '48Mi' }, limits: { memory: '128Mi' } };
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: meta('repro-watch', 'watch'),
    spec: {
      selector: { matchLabels: labels('watch') },
      updateStrategy: { type: 'RollingUpdate' },
      template: { metadata: { labels: labels('watch') }, spec: nodeReaderPod(container, {}) },
    },
  };
}

/** A template: set the node in its nodeSelector (README), then kubectl create -f and read the Job's log. */
export const AUDIT_NODE_PLACEHOLDER = 'NODE-NAME';

export function auditJob(image = DEFAULT_IMAGE): V1Job {
  // CAP_SYS_PTRACE: each container's resolv.conf through /proc/<pid>/root; NET_ADMIN and NET_RAW: the *-save tools and nft.
  const container = readOnlyContainer('audit', image, ['audit', '--json', '--fail-on', 'never'], ['NET_ADMIN', 'NET_RAW', 'SYS_PTRACE']);
  container.resources = { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: meta('repro-audit', 'audit'),
    spec: {
      backoffLimit: 0,
      ttlSecondsAfterFinished: 86_400,
      template: {
        metadata: { labels: labels('audit') },
        spec: nodeReaderPod(container, { restartPolicy: 'Never', nodeSelector: { 'kubernetes.io/hostname': AUDIT_NODE_PLACEHOLDER } }),
      },
    },
  };
}

export function metricsService(): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta('repro-watch', 'watch'),
    spec: {
      // One endpoint per node, each scraped on its own.
      clusterIP: 'None',
      selector: labels('watch'),
      ports: [{ name: 'metrics', port: METRICS_PORT, targetPort: 'metrics', protocol: 'TCP' }],
    },
  };
}

export function serviceMonitor(): ServiceMonitor {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'ServiceMonitor',
    metadata: meta('repro-watch', 'watch'),
    spec: {
      selector: { matchLabels: labels('watch') },
      namespaceSelector: { matchNames: [NAMESPACE] },
      endpoints: [{ port: 'metrics', path: '/metrics', interval: '30s' }],
    },
  };
}

export function namespace(): V1Namespace {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE, labels: { 'app.kubernetes.io/name': APP } } };
}

const HEADER = '# Generated by `npm run manifests` from src/deploy/kubernetesManifests.ts: edit that file, not this one.\n';

/** File name -> YAML text, as deploy/kubernetes/ holds them. */
export function manifestFiles(image = DEFAULT_IMAGE): Record<string, string> {
  const doc = (o: object): string => HEADER + stringify(o, { lineWidth: 0 });
  return {
    'namespace.yaml': doc(namespace()),
    'watch-daemonset.yaml': doc(watchDaemonSet(image)),
    'watch-service.yaml': doc(metricsService()),
    'watch-servicemonitor.yaml': doc(serviceMonitor()),
    'audit-job.yaml': doc(auditJob(image)),
  };
}
