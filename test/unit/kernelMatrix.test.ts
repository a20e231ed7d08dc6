import { describe, expect, it } from 'vitest';
import { cellsOf, kernelLabel, parseKernels, parseScenarioWords, splitWords } from '../../src/matrix/cells.js';
import { fixesVersion, matrixResult, type CellOutcome } from '../../src/matrix/model.js';
import { matrixChartSvg, matrixHtml, matrixMarkdown } from '../../src/matrix/render.js';
import { withStatistics } from '../../src/analysis/runStatistics.js';
import { stoppedByDuration } from '../../src/scenarios/shared/modeLoop.js';
import { guestErrorMessage, withEmulatedDuration } from '../../src/vm/runInVm.js';
import { debianMirrors, parseDebianSpec, privateAptOptions, privateSourcesList } from '../../src/vm/debian.js';
import { restoreRefusal } from '../../src/host/iptables.js';
import { UserError } from '../../src/errors.js';
import { makeMode, makeResult } from './fixtures/results.js';

describe('--kernel debian:<release>', () => {
  it('names a release by codename, number or kernel series; plain debian is the host\'s own', () => {
    expect(parseDebianSpec('debian')).toBeNull();
    expect(parseDebianSpec('debian:bullseye')?.suite).toBe('bullseye');
    expect(parseDebianSpec('debian:12')?.suite).toBe('bookworm');
    expect(parseDebianSpec('debian:6.12')?.suite).toBe('trixie');
    expect(parseDebianSpec('/tmp/x.deb')).toBeUndefined();
    expect(() => parseDebianSpec('debian:sid')).toThrow(/no such Debian release; known: debian:bullseye \(11, 5\.10\)/);
  });

  it("takes the mirror from the host's sources (deb822 and one-line), never a link or option in a URI", () => {
    const deb822 = 'Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n\nTypes: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n';
    expect(debianMirrors([deb822])).toEqual({ archive: 'http://mirror.example/debian', security: 'http://mirror.example/debian-security' });
    expect(debianMirrors(['deb [arch=amd64] http://m.example/debian/ bookworm main\n'])).toEqual({ archive: 'http://m.example/debian', security: null });
    expect(debianMirrors(['deb file:/etc/debian bookworm main\n', 'deb http://x y/debian z\n'])).toBeNull();
    expect(debianMirrors(['deb https://packages.example/apt cloud-sdk main\n'])).toBeNull();
  });

  it('writes a private list, lists and cache: the machine\'s own apt configuration is not used', () => {
    const list = privateSourcesList({ archive: 'http://m.example/debian', security: 'http://m.example/debian-security' }, 'bullseye', '/k.gpg');
    expect(list).toBe('deb [signed-by=/k.gpg] http://m.example/debian bullseye main\ndeb [signed-by=/k.gpg] http://m.example/debian-security bullseye-security main\n');
    const o = privateAptOptions('/var/cache/repro/apt/bullseye');
    expect(o).toContain('Dir::Etc::SourceList=/var/cache/repro/apt/bullseye/sources.list');
    expect(o).toContain('Dir::Etc::SourceParts=/var/cache/repro/apt/bullseye/sources.list.d');
    expect(o).toContain('Dir::State::Lists=/var/cache/repro/apt/bullseye/lists');
    expect(o).toContain('Dir::Cache=/var/cache/repro/apt/bullseye/cache');
  });
});

describe("a guest's errors reach the user whole", () => {
  // iptables-restore's output on 5.10 without nft_counter, as the guest printed it (#27).
  const OUTPUT = 'iptables-restore v1.8.9 (nf_tables): \nline 3: RULE_INSERT failed (No such file or directory): rule in chain POSTROUTING\n';
  const BATCH = '*nat\n:REPRO-NAT-772dc1 - [0:0]\n-A POSTROUTING -j REPRO-NAT-772dc1 -m comment --comment 772dc1\nCOMMIT\n';

  it("iptables-restore's refusal names the command, the refused line and the whole output", () => {
    const m = restoreRefusal(['-w', '10', '--noflush'], 'rp772dc1-router', BATCH, OUTPUT);
    expect(m).toContain('(ip netns exec rp772dc1-router iptables-restore -w 10 --noflush)');
    expect(m).toContain('refused line 3: -A POSTROUTING -j REPRO-NAT-772dc1 -m comment --comment 772dc1');
    expect(m).toContain('line 3: RULE_INSERT failed (No such file or directory): rule in chain POSTROUTING');
  });

  it("the host keeps the guest's message with its continuation lines", () => {
    const consoleText = ['· topology: 2 clients', `repro: ${restoreRefusal([], null, BATCH, OUTPUT)}`, 'repro-vm: exit 2 at 80 s'].join('\n');
    const said = guestErrorMessage(consoleText) ?? '';
    expect(said.split('\n')[0]).toBe("iptables-restore refused the harness's rules (iptables-restore):");
    expect(said).toContain('RULE_INSERT failed (No such file or directory)');
    expect(said).not.toContain('repro-vm: exit');
    expect(guestErrorMessage('nothing here')).toBeNull();
  });
});

describe('time bounds', () => {
  it('a mode stopped by --duration before its attempts says so first in its reason', () => {
    const m = makeMode({ mode: 'none', attempts: 10956 });
    const s = stoppedByDuration(m, 30, 20000, 30_010);
    expect(s.reason.startsWith('Stopped at --duration 30 s after 10,956 of 20,000 attempts. ')).toBe(true);
    expect(s.notes.at(-1)).toMatch(/raise --duration/);
    expect(stoppedByDuration(m, 30, 10956, 30_010)).toBe(m);
    expect(stoppedByDuration(m, 30, 20000, 12_000)).toBe(m);
  });

  it('under TCG the default --duration is raised, a given one kept', () => {
    expect(withEmulatedDuration(['--load', 'burst'], 'tcg', 30)).toEqual({ words: ['--load', 'burst', '--duration', '120'], said: expect.stringMatching(/30 s becomes 120 s/) });
    expect(withEmulatedDuration(['--duration=10'], 'tcg', 30).words).toEqual(['--duration=10']);
    expect(withEmulatedDuration([], 'kvm', 30).said).toBeNull();
  });
});

describe('repro matrix', () => {
  it('cells: kernels x scenarios, kernel by kernel, with labels safe as directory names', () => {
    expect(splitWords(`dns --client burst --zone "a b"`)).toEqual(['dns', '--client', 'burst', '--zone', 'a b']);
    expect(kernelLabel(null)).toBe('host');
    expect(kernelLabel('debian:bullseye')).toBe('debian-bullseye');
    expect(kernelLabel('/tmp/../x/linux-image-5.10.0_1.deb')).toBe('linux-image-5.10.0_1.deb');
    const cells = cellsOf(parseKernels('host,debian:bullseye'), ['tcp-syn --load burst', 'dns --client burst']);
    expect(cells.map((c) => `${c.kernelLabel}/${c.scenarioLabel}`)).toEqual([
      'host/tcp-syn_load_burst', 'host/dns_client_burst', 'debian-bullseye/tcp-syn_load_burst', 'debian-bullseye/dns_client_burst',
    ]);
    expect(cells[0]?.words).toEqual(['tcp-syn', '--load', 'burst', '--backend', 'netns']);
  });

  it('refuses what it would run wrong', () => {
    expect(() => parseKernels('host,host')).toThrow(/host twice/);
    expect(() => parseScenarioWords('rm -rf /')).toThrow(UserError);
    expect(() => parseScenarioWords('tcp-syn --out /etc')).toThrow(/--out is the matrix's own/);
    expect(() => parseScenarioWords('tcp-syn --kernel=/x')).toThrow(/--kernel is the matrix's own/);
    expect(() => cellsOf([null], [])).toThrow(/at least one --scenario/);
  });

  const host = withStatistics(makeResult([{ mode: 'none', attempts: 10000, race: 1968 }, { mode: 'random-fully', attempts: 10000 }], {
    conntrackSysctls: { 'net.ipv4.tcp_syn_linear_timeouts': '4' },
  }));
  const old = withStatistics(makeResult([{ mode: 'none', attempts: 6862, race: 829 }], {
    kernel: '5.10.0-46-amd64', kernelVersion: '5.10.0', conntrackColumns: ['entries', 'insert_failed', 'drop'],
    vm: { accel: 'tcg', cpus: 2, memoryMb: 2048, kernelSource: 'debian:linux-image-5.10.0-46-amd64=5.10.262-1', qemu: '7.2.19', kernelPackage: { name: 'linux-image-5.10.0-46-amd64', version: '5.10.262-1' } },
  }));
  const cells = cellsOf(parseKernels('host,debian:bullseye'), ['tcp-syn --load burst']);
  const outcomes: CellOutcome[] = [
    { cell: cells[0]!, dir: 'host/tcp-syn_load_burst', exitCode: 0, wallSec: 20, error: null, result: host },
    { cell: cells[1]!, dir: 'debian-bullseye/tcp-syn_load_burst', exitCode: 0, wallSec: 226.9, error: null, result: old },
  ];
  const r = matrixResult(outcomes, { command: 'repro matrix', startedAt: 'a', finishedAt: 'b', interrupted: false });

  it("per kernel: its own facts, the rate with its interval, the fixes of the package's upstream version", () => {
    const [h, b] = r.kernels;
    expect(h?.facts.synLinearTimeouts).toBe('4');
    expect(h?.facts.clashresCounter).toBe(true);
    expect(b?.facts.synLinearTimeouts).toBeNull();
    expect(b?.facts.clashresCounter).toBe(false);
    expect(b?.facts.emulated).toBe(true);
    expect(b?.facts.ranOn).toMatch(/TCG/);
    expect(fixesVersion(b!.facts)).toBe('5.10.262');
    expect(b?.fixes.absent).toContain('syn-linear-timeouts');
    expect(h?.fixes.absent).toEqual([]);
    const none = b?.cells[0]?.modes[0];
    expect(none?.race?.count).toBe(829);
    expect(Math.abs((none?.race?.per100k ?? 0) - (829 / 6862) * 1e5)).toBeLessThan(10);
    expect(none!.race!.lower).toBeLessThan(none!.race!.per100k);
    expect(none?.clashres).toBeNull();
    expect(none?.insertFailed).toBe(829);
    expect(b?.wallSec).toBe(226.9);
  });

  it('renders md, html and a log-scale chart; nothing from a result reaches the markup raw', () => {
    const evil = matrixResult([{ ...outcomes[0]!, cell: { ...outcomes[0]!.cell, kernelLabel: '<script>x</script>|' } }], { command: 'repro <b>', startedAt: 'a', finishedAt: 'b', interrupted: false });
    const html = matrixHtml(evil);
    expect(html).not.toContain('<script>x');
    expect(html).not.toContain('<b>');
    expect(matrixMarkdown(evil)).toContain('\\|');
    const md = matrixMarkdown(r);
    expect(md).toMatch(/\| debian-bullseye \| tcp-syn_load_burst \| none \| 12,08\d \[/);
    const svg = matrixChartSvg(r);
    expect(svg.startsWith('<svg')).toBe(true);
    // Log scale: 10 per 100 000 sits a fifth of the way up from 1, 100 000 at the top.
    expect(svg).toContain('>100,000</text>');
    expect((svg.match(/<rect /g) ?? []).length).toBe(2 + 2); // two bars above zero, two legend swatches
    expect(svg).toMatch(/>0<title>host tcp-syn_load_burst random-fully/);
  });
});

describe('repro matrix --file', () => {
  it('scenarios/kernels.yaml gives the cells of the command line form, in the same order with the same labels', async () => {
    const { loadScenarioFile } = await import('../../src/scenarioFile/load.js');
    const { cellsOfFile } = await import('../../src/matrix/cells.js');
    const fromFile = cellsOfFile((await loadScenarioFile('scenarios/kernels.yaml')).runs);
    const fromArgs = cellsOf(parseKernels('host,debian:bullseye,debian:bookworm,debian:trixie'), ['tcp-syn --load burst', 'dns --client burst']);
    expect(fromFile.map((c) => `${c.kernelLabel}/${c.scenarioLabel}`)).toEqual(fromArgs.map((c) => `${c.kernelLabel}/${c.scenarioLabel}`));
  });
});
