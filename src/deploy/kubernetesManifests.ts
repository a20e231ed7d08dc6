import type { V1Container, V1DaemonSet, V1Job, V1LabelSelector, V1Namespace, V1ObjectMeta, V1PodSpec, V1Service, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { stringify } from 'yaml';

/**
 * deploy/kubernetes/, generated from typed objects (npm run manifests) so that a unit test checks their shape:
 * a DaemonSet running `repro watch --prometheus` on every node (or its variant with --trace: deploy one of the two),
 * a Job template running `repro audit --json` on one node, and a Service plus ServiceMonitor for the metrics. Each
 * reads the node's own network namespace (hostNetwork) with the least its command needs, and changes nothing on it.
 */
export const NAMESPACE = 'repro';
export const METRICS_PORT = 9477;
/**
 * docker/Dockerfile built and pushed to the cluster's registry (README "On your nodes"), by digest: a tag can be
 * moved under a running DaemonSet. `npm run manifests -- --image <name>@sha256:<digest>` writes the real one.
 */
export const IMAGE_PLACEHOLDER = 'REGISTRY/repro@sha256:IMAGE-DIGEST';
export const DEFAULT_IMAGE = IMAGE_PLACEHOLDER;

/** An image reference pinned by digest (or the placeholder): anything else is refused. */
export function checkPinnedImage(image: string): string {
  if (image === IMAGE_PLACEHOLDER || /^[a-z0-9][a-z0-9._\/:-]{0,254}@sha256:[0-9a-f]{64}$/.test(image)) return image;
  throw new Error(`image "${image}": give it by digest (name@sha256:<64 hex digits>), so that what runs on the nodes cannot be moved under them`);
}

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

/**
 * What a command needs of the node, and nothing more (each reason is the one place it is said):
 * - watch reads /proc/net/stat/nf_conntrack and nf_conntrack_max, both world-readable in the node's network
 *   namespace: no capability, no root, no hostPID. (The netlink fallback, conntrack -S, would need NET_ADMIN: a
 *   kernel without the procfs file says so in the pod's log instead.)
 * - watch --trace runs bpftrace as root: CAP_BPF (load the program, its maps), CAP_PERFMON (attach to tracepoints and
 *   kprobes, read kernel memory through BTF), CAP_NET_ADMIN (the conntrack -E / -L partner lookups over ctnetlink),
 *   CAP_SYS_ADMIN (bpftrace 0.17 and the runtimes' RuntimeDefault seccomp profiles still ask for it before bpf(2):
 *   measured in the image test); the node's BTF and tracefs, read-only. To name the pods it reads, with no runtime
 *   socket (the CRI socket would be root on the node): hostPID and CAP_SYS_PTRACE (each process's /proc/<pid>/ns/net,
 *   a ptrace-mode read check for other users' processes; its cgroup file, fib_trie and if_inet6), and the kubelet's
 *   /var/log/pods read-only, of which only directory names are listed (<namespace>_<name>_<uid>).
 * - audit reads every container's resolv.conf through /proc/<pid>/root (hostPID, CAP_SYS_PTRACE) and the rules
 *   (iptables-save and nft: CAP_NET_ADMIN, CAP_NET_RAW).
 */
export interface NodeAccess {
  runAsRoot: boolean;
  hostPID: boolean;
  capabilities: string[];
  /** Host paths mounted read-only at the same path. */
  hostPaths: string[];
  /** Writable scratch directories (emptyDir) in the otherwise read-only root. */
  scratch: string[];
}

export const ACCESS: Record<'watch' | 'watchTrace' | 'audit', NodeAccess> = {
  watch: { runAsRoot: false, hostPID: false, capabilities: [], hostPaths: [], scratch: [] },
  // /run/repro: the tracer's state file (which processes it started), in the pod's own scratch space.
  watchTrace: { runAsRoot: true, hostPID: true, capabilities: ['BPF', 'PERFMON', 'NET_ADMIN', 'SYS_ADMIN', 'SYS_PTRACE'], hostPaths: ['/sys/kernel/btf', '/sys/kernel/tracing', '/var/log/pods'], scratch: ['/run/repro'] },
  audit: { runAsRoot: true, hostPID: true, capabilities: ['NET_ADMIN', 'NET_RAW', 'SYS_PTRACE'], hostPaths: [], scratch: [] },
};

const NOBODY = 65534;
const volumeName = (path: string): string => path.replace(/^\//, '').replace(/\//g, '-');

/** The node's network namespace, nothing written, no escalation, the runtime's default seccomp profile. */
function nodeReaderPod(container: V1Container, access: NodeAccess, extra: Partial<V1PodSpec>): V1PodSpec {
  const volumes: V1Volume[] = [
    ...access.hostPaths.map((path) => ({ name: volumeName(path), hostPath: { path, type: 'Directory' } })),
    ...access.scratch.map((path) => ({ name: volumeName(path), emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } })),
  ];
  return {
    hostNetwork: true,
    hostPID: access.hostPID,
    dnsPolicy: 'ClusterFirstWithHostNet',
    automountServiceAccountToken: false,
    securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
    tolerations: [{ operator: 'Exists' }],
    containers: [container],
    ...(volumes.length > 0 ? { volumes } : {}),
    ...extra,
  };
}

function readOnlyContainer(name: string, image: string, args: string[], access: NodeAccess): V1Container {
  const mounts: V1VolumeMount[] = [
    ...access.hostPaths.map((path) => ({ name: volumeName(path), mountPath: path, readOnly: true })),
    ...access.scratch.map((path) => ({ name: volumeName(path), mountPath: path })),
  ];
  return {
    name,
    image: checkPinnedImage(image),
    command: ['/usr/local/bin/node', CLI],
    args,
    securityContext: {
      ...(access.runAsRoot ? { runAsUser: 0 } : { runAsUser: NOBODY, runAsGroup: NOBODY, runAsNonRoot: true }),
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'], ...(access.capabilities.length > 0 ? { add: access.capabilities } : {}) },
    },
    ...(mounts.length > 0 ? { volumeMounts: mounts } : {}),
  };
}

export function watchDaemonSet(image = DEFAULT_IMAGE, opts: { trace?: boolean } = {}): V1DaemonSet {
  const access = opts.trace ? ACCESS.watchTrace : ACCESS.watch;
  const container = readOnlyContainer(
    'watch',
    image,
    // The pod's IP under hostNetwork is the node's: the endpoint listens there only.
    ['watch', ...(opts.trace ? ['--trace'] : []), '--prometheus', `$(POD_IP):${METRICS_PORT}`, '--interval', '15'],
    access,
  );
  container.env = [{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }];
  container.ports = [{ name: 'metrics', containerPort: METRICS_PORT, protocol: 'TCP' }];
  container.readinessProbe = { httpGet: { path: '/metrics', port: 'metrics' }, periodSeconds: 30 };
  container.resources = { requests: { cpu: '10m', memory: '48Mi' }, limits: { memory: '128Mi' } };
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: meta(opts.trace ? 'repro-watch-trace' : 'repro-watch', 'watch'),
    spec: {
      selector: { matchLabels: labels('watch') },
      updateStrategy: { type: 'RollingUpdate' },
      template: { metadata: { labels: labels('watch') }, spec: nodeReaderPod(container, access, {}) },
    },
  };
}

/** A template: set the node in its nodeSelector (README), then kubectl create -f and read the Job's log. */
export const AUDIT_NODE_PLACEHOLDER = 'NODE-NAME';

/** An audit reads for seconds; one that hangs (a file a pod planted) is ended by Kubernetes. */
export const AUDIT_DEADLINE_SECONDS = 300;

export function auditJob(image = DEFAULT_IMAGE): V1Job {
  const container = readOnlyContainer('audit', image, ['audit', '--json', '--fail-on', 'never'], ACCESS.audit);
  container.resources = { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: meta('repro-audit', 'audit'),
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: AUDIT_DEADLINE_SECONDS,
      ttlSecondsAfterFinished: 86_400,
      template: {
        metadata: { labels: labels('audit') },
        spec: nodeReaderPod(container, ACCESS.audit, { restartPolicy: 'Never', nodeSelector: { 'kubernetes.io/hostname': AUDIT_NODE_PLACEHOLDER } }),
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
  checkPinnedImage(image);
  const doc = (o: object): string => HEADER + stringify(o, { lineWidth: 0 });
  return {
    'namespace.yaml': doc(namespace()),
    'watch-daemonset.yaml': doc(watchDaemonSet(image)),
    'watch-trace-daemonset.yaml': doc(watchDaemonSet(image, { trace: true })),
    'watch-service.yaml': doc(metricsService()),
    'watch-servicemonitor.yaml': doc(serviceMonitor()),
    'audit-job.yaml': doc(auditJob(image)),
  };
}

/**
 * The `docker run` options that give a container exactly a pod's node access (the image test runs the image so):
 * its user, capabilities, host namespaces, read-only mounts, read-only root, no escalation; Docker's default seccomp
 * profile is the RuntimeDefault one. Pure.
 */
export function dockerRunOptions(pod: V1PodSpec, opts: { dockerLacks?: readonly string[] } = {}): string[] {
  const c = pod.containers[0];
  if (!c || pod.containers.length !== 1) throw new Error('one container per pod');
  const sc = c.securityContext ?? {};
  if (pod.securityContext?.seccompProfile?.type !== 'RuntimeDefault') throw new Error('the pod must ask for the RuntimeDefault seccomp profile');
  const out: string[] = [];
  if (sc.runAsUser !== undefined) out.push('--user', `${sc.runAsUser}${sc.runAsGroup !== undefined ? `:${sc.runAsGroup}` : ''}`);
  for (const cap of sc.capabilities?.drop ?? []) out.push('--cap-drop', cap);
  const add = sc.capabilities?.add ?? [];
  for (const cap of add) {
    if (!opts.dockerLacks?.includes(cap)) {
      out.push('--cap-add', cap);
      continue;
    }
    // Docker before 23 knows no CAP_BPF/CAP_PERFMON; the kernel grants what they grant to CAP_SYS_ADMIN too
    // (bpf_capable, perfmon_capable), so a pod that has SYS_ADMIN loses nothing without them. Without it: refused.
    if (!['BPF', 'PERFMON'].includes(cap) || !add.includes('SYS_ADMIN')) throw new Error(`this docker cannot grant CAP_${cap}`);
  }
  if (sc.allowPrivilegeEscalation === false) out.push('--security-opt', 'no-new-privileges');
  if (sc.readOnlyRootFilesystem) out.push('--read-only');
  if (pod.hostNetwork) out.push('--network', 'host');
  if (pod.hostPID) out.push('--pid', 'host');
  for (const m of c.volumeMounts ?? []) {
    const v = pod.volumes?.find((x) => x.name === m.name);
    if (v?.emptyDir) out.push('--tmpfs', `${m.mountPath}:size=1m,mode=0700`);
    else if (v?.hostPath) out.push('-v', `${v.hostPath.path}:${m.mountPath}${m.readOnly ? ':ro' : ''}`);
    else throw new Error(`volume ${m.name}: only hostPath and emptyDir volumes`);
  }
  return out;
}
