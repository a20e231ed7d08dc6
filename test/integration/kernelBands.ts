import { execFileSync } from 'node:child_process';

/**
 * The latency bands a connect's lost SYNs put it in, from outside the code under test: the kernel's own sysctls,
 * read in a fresh network namespace (the labs' namespaces are fresh too, so they carry the per-netns defaults of
 * tcp_sk_init()), and the SYN retransmit times written out by hand from net/ipv4/tcp_timer.c.
 */
const RETRANSMIT_SECONDS: Record<string, readonly number[]> = {
  // 6.5+ defaults (tcp_syn_linear_timeouts = 4, tcp_syn_retries = 6; ccce324dabfe): four 1 s timeouts, then doubling,
  // at most 6 + 4 retransmits, given up at 127 s.
  '4/6': [1, 2, 3, 4, 5, 7, 11, 19, 35, 67],
  // Before 6.5 (no tcp_syn_linear_timeouts file), tcp_syn_retries = 6: doubling from 1 s.
  'none/6': [1, 3, 7, 15, 31, 63],
};

/** net.ipv4.tcp_syn_linear_timeouts (null where the kernel has no such file) and tcp_syn_retries of a fresh netns. */
export function freshNetnsSynSysctls(): { linear: number | null; retries: number } {
  const ns = `repro-bands-${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    const read = (name: string): string | null => {
      try {
        return execFileSync('ip', ['netns', 'exec', ns, 'cat', `/proc/sys/net/ipv4/${name}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      } catch {
        // Only a missing file is expected here (a kernel before 6.5): anything else fails the caller below.
        return null;
      }
    };
    const retries = Number(read('tcp_syn_retries'));
    if (!Number.isInteger(retries)) throw new Error('could not read net.ipv4.tcp_syn_retries in a fresh netns');
    const linear = read('tcp_syn_linear_timeouts');
    return { linear: linear === null ? null : Number(linear), retries };
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
}

/** Band names ("1s", "2s", ...) of connects on this kernel with a connect timeout of timeoutMs: every retransmit sent before it. */
export function kernelBandNames(timeoutMs: number): string[] {
  const s = freshNetnsSynSysctls();
  const key = `${s.linear ?? 'none'}/${s.retries}`;
  const times = RETRANSMIT_SECONDS[key];
  if (!times) throw new Error(`no hand-written SYN schedule for tcp_syn_linear_timeouts/tcp_syn_retries = ${key} (only the kernels' defaults are written out)`);
  return times.filter((t) => t * 1000 < timeoutMs).map((t) => `${t}s`);
}
