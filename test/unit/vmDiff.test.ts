import { describe, expect, it } from 'vitest';
import { diffResults } from '../../src/analysis/diff.js';
import { kernelDifferences } from '../../src/analysis/kernelDiff.js';
import { assessKernel } from '../../src/analysis/kernelFixes.js';
import { renderDiff } from '../../src/report/diffText.js';
import { renderMarkdown } from '../../src/report/markdown.js';
import { renderTerminal } from '../../src/report/terminal.js';
import { withVm } from '../../src/vm/runInVm.js';
import { makeResult } from './fixtures/results.js';
import { DISTRO_KERNELS, fromUname } from './fixtures/distroKernels.js';
import { upstreamKernelVersion } from '../../src/host/kernelVersion.js';

const MODES = [{ mode: 'none', attempts: 20_000, race: 1 }, { mode: 'random-fully', attempts: 20_000 }];
// The guest of a `--kernel debian` run on this host: Debian 12's 6.1 kernel, whose version string says 6.1.192.
const BOOKWORM = DISTRO_KERNELS.find((k) => k.distro.startsWith('Debian 12 (bookworm), the version string'));
const GUEST_VERSION = upstreamKernelVersion(BOOKWORM?.inputs ?? { release: '' });
const VM = { accel: 'tcg', cpus: 2, memoryMb: 2048, kernelSource: 'debian:linux-image-6.1.0-57-amd64=6.1.192-3', qemu: '7.2.22' } as const;

describe('repro diff of a host run and a VM run', () => {
  it('lists the known changes whose status differs between the two kernels, as the kernel-changes table has them', () => {
    const d = kernelDifferences(fromUname('6.18.44'), GUEST_VERSION);
    const host = new Map(assessKernel(fromUname('6.18.44')).map((f) => [f.id, f.status]));
    const vm = new Map(assessKernel(GUEST_VERSION).map((f) => [f.id, f.status]));
    const differing = [...host.keys()].filter((id) => host.get(id) !== vm.get(id));
    expect(d.map((c) => c.id)).toEqual(differing);
    expect(d.length).toBeGreaterThan(0);
    // 6.12's reverse-direction clash resolution: on the host's 6.18, not on 6.1.
    expect(d.find((c) => c.id === 'clash-reverse-direction')).toMatchObject({ old: 'present', new: 'absent' });
    expect(kernelDifferences(GUEST_VERSION, GUEST_VERSION)).toEqual([]);
  });

  it('renders the block and says the VM run was emulated', () => {
    const host = makeResult(MODES);
    const guest = withVm(makeResult(MODES, { kernel: '6.1.0-57-amd64', kernelVersion: GUEST_VERSION }), VM, 'repro tcp-syn --kernel debian');
    const d = diffResults([{ label: 'tcp-syn', result: host }], [{ label: 'tcp-syn', result: guest }], { failOnWorse: [] });
    expect(d.runs[0]?.kernels).toEqual({ old: '6.18.44', new: '6.1.192' });
    const text = renderDiff(d);
    expect(text).toContain('what differs between these kernels (6.18.44 → 6.1.192');
    expect(text).toMatch(/clash-reverse-direction \(dns\): present → absent: /);
    expect(text).toMatch(/caveat: new run ran in a VM under TCG \(emulated CPUs.*do not transfer to hardware/);
    // The same kernel on both sides: no block.
    const same = diffResults([{ label: 'tcp-syn', result: host }], [{ label: 'tcp-syn', result: host }], { failOnWorse: [] });
    expect(renderDiff(same)).not.toContain('what differs between these kernels');
  });

  it("a VM run's reports say it was emulated (terminal note, Markdown note and environment row)", () => {
    const guest = withVm(makeResult(MODES, { kernel: '6.1.0-57-amd64', kernelVersion: GUEST_VERSION }), VM, 'repro tcp-syn --kernel debian');
    expect(renderTerminal(guest)).toMatch(/note: emulated: ran in a QEMU guest under TCG/);
    const md = renderMarkdown(guest);
    expect(md).toMatch(/- none: emulated: .*do not transfer to hardware/);
    expect(md).toMatch(/\| vm \| QEMU 7\.2\.22 TCG \(emulated CPUs\), 2 vCPUs, 2048 MB, kernel debian:linux-image-6\.1\.0-57-amd64=6\.1\.192-3 \|/);
  });
});
