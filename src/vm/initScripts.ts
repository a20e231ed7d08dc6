/**
 * The guest's init, as two busybox shell scripts of the project's own (no init system, no kmod, no udev):
 * - stage 1, /init of the initramfs: loads the modules, mounts the host's root (9p, read-only) under a tmpfs
 *   overlay, so the guest can write anywhere while the host's files stay untouched, and switches root to it;
 * - stage 2, PID 1 on that root: mounts proc/sys/dev and a fresh /run (the host's run lock and namespaces are not the
 *   guest's; /tmp stays the overlay's, so a project under the host's /tmp is still seen), brings up lo, runs the scenario
 *   on the netns backend with the serial console as its terminal, sends the run SIGINT when the host creates
 *   `stop` in the shared directory (as `kill -INT` on the host would: the runner alone, which stops its agents),
 *   writes the exit status to the shared directory and powers off.
 * Lines the scripts print start with "repro-vm: " so the host can tell them from the kernel's and the run's.
 */

/** 9p tags of the two shares QEMU exports. */
export const ROOT_TAG = 'reproroot';
export const OUT_TAG = 'reproout';
/** Bytes per 9p message (the virtio transport of 6.x takes up to ~512 KiB; more throughput for node's start-up). */
export const NINEP_MSIZE = 512000;
/** Marker on the kernel command line: stage 1 only says it booted and powers off (the accelerator probe). */
export const PROBE_ARG = 'repro.probe=1';
export const MARK = 'repro-vm:';
/** Created by the host in the shared directory to stop the guest's run (Ctrl-C, watchdog). */
export const STOP_FILE = 'stop';

/** Pure: a word for sh, single-quoted unless it is plainly safe. */
export function shQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface Stage1Options {
  /** Modules in load order; each is /modules/<name>.ko in the initramfs. */
  modules: readonly string[];
  /** Where busybox is on the host's root: the interpreter of stage 2. */
  hostBusybox: string;
  /** Stage 2's path on the host's root. */
  stage2: string;
}

/** Pure: /init of the initramfs. */
export function stage1Script(o: Stage1Options): string {
  const mount9p = `-t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=${NINEP_MSIZE} ${ROOT_TAG} /host`;
  return [
    '#!/bin/busybox sh',
    "# repro guest init, stage 1: modules, the host's root read-only under a tmpfs overlay, then stage 2 on it.",
    'B=/bin/busybox',
    `say() { echo "${MARK} $*"; }`,
    'fail() { say "error: $*"; $B poweroff -f; while :; do $B sleep 60; done; }',
    '$B mount -t proc proc /proc',
    '$B mount -t sysfs sysfs /sys',
    '$B mount -t devtmpfs devtmpfs /dev',
    `case " $($B cat /proc/cmdline) " in *" ${PROBE_ARG} "*) say "probe booted"; $B poweroff -f;; esac`,
    'say "stage 1 at $($B cut -d" " -f1 /proc/uptime) s"',
    `for m in ${o.modules.map(shQuote).join(' ')}; do`,
    '  $B insmod /modules/$m.ko 2>/dev/null || say "warning: module $m did not load"',
    'done',
    'say "modules loaded at $($B cut -d" " -f1 /proc/uptime) s"',
    '$B mkdir -p /host /rw /newroot',
    `$B mount ${mount9p} || fail "cannot mount the host's root over 9p (the kernel needs virtio_pci, 9pnet_virtio and 9p)"`,
    '$B mount -t tmpfs -o mode=0755 rw /rw',
    '$B mkdir -p /rw/upper /rw/work',
    '$B mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /newroot || fail "cannot mount the overlay on the host\'s root (the kernel needs overlay)"',
    `[ -x /newroot${o.hostBusybox} ] || fail ${shQuote(`no ${o.hostBusybox} on the host's root`)}`,
    '$B umount /proc /sys /dev',
    `exec $B switch_root /newroot ${shQuote(o.hostBusybox)} sh ${shQuote(o.stage2)}`,
    '',
  ].join('\n');
}

export interface Stage2Options {
  hostBusybox: string;
  /** The shared writable directory (the same path on host and guest). */
  outDir: string;
  /** Working directory of the run (the project's root). */
  cwd: string;
  /** The command: node, the CLI, the scenario and its arguments. */
  argv: readonly string[];
  /** Environment for the run beyond PATH and HOME (e.g. REPRO_* of the host). */
  env: Record<string, string>;
  /** PATH in the guest (the host's directories; node's own directory included by the caller). */
  path: string;
  /** Seconds after which the guest powers off whatever the run does (the host's watchdog normally acts first). */
  deadlineSec: number;
}

/** Pure: stage 2, run as PID 1 by the host's busybox after switch_root. */
export function stage2Script(o: Stage2Options): string {
  const out = shQuote(o.outDir);
  return [
    '#!/bin/sh',
    '# repro guest init, stage 2 (PID 1): mounts, lo, the scenario on the console as its terminal, exit status, power off.',
    `B=${shQuote(o.hostBusybox)}`,
    `say() { echo "${MARK} $*"; }`,
    '$B mount -t proc proc /proc',
    '$B mount -t sysfs sysfs /sys',
    '$B mount -t devtmpfs devtmpfs /dev',
    '$B mkdir -p /dev/pts /dev/shm',
    '$B mount -t devpts devpts /dev/pts',
    '$B mount -t tmpfs tmpfs /dev/shm',
    '$B mount -t tmpfs -o mode=0755 tmpfs /run',
    `$B mkdir -p ${out}`,
    `$B mount -t 9p -o trans=virtio,version=9p2000.L,msize=${NINEP_MSIZE} ${OUT_TAG} ${out} || { say "error: cannot mount the shared result directory"; $B poweroff -f; }`,
    '$B ip link set lo up',
    `( $B sleep ${Math.max(1, Math.round(o.deadlineSec))}; say "error: guest deadline of ${Math.round(o.deadlineSec)} s reached"; $B sync; $B poweroff -f ) &`,
    `export PATH=${shQuote(o.path)} HOME=/root TERM=linux`,
    ...Object.entries(o.env).map(([k, v]) => `export ${k}=${shQuote(v)}`),
    `cd ${shQuote(o.cwd)}`,
    'say "running at $($B cut -d" " -f1 /proc/uptime) s"',
    // setsid + cttyhack: a session of its own with the console as its terminal (progress bars, as on a host's).
    `$B setsid $B cttyhack ${o.argv.map(shQuote).join(' ')} &`,
    'run=$!',
    `( while [ ! -e ${out}/${STOP_FILE} ]; do $B sleep 0.5; done; say "stop requested: SIGINT to the run"; kill -INT $run ) &`,
    'wait $run',
    'status=$?',
    `echo "$status" > ${out}/status`,
    'say "exit $status at $($B cut -d" " -f1 /proc/uptime) s"',
    '$B sync',
    '$B poweroff -f',
    '',
  ].join('\n');
}
