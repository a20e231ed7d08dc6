import { assessKernel, kernelVersionText, kernelVersionWithSource, VENDOR_CAVEAT, type FixAssessment } from '../analysis/kernelFixes.js';
import { withStatistics } from '../analysis/runStatistics.js';
import { attemptNoun, configLine, measurementRows, modeRow } from './modeRows.js';
import { typedHostWarnings } from '../analysis/hostWarnings.js';
import { headlineMetric } from '../analysis/comparisons.js';
import { evidenceLines } from '../analysis/evidence.js';
import { answerLine, dnsEntryLine, entryLabel, hasPhases, modeAnswers } from '../analysis/answers.js';
import { delta, fmtP, fmtRate, groupCounts, int, num, pClause } from './format.js';
import { modeInWords, remediationLines } from '../analysis/remediation.js';
import { nodeSatisfies } from '../analysis/nodeSupport.js';
import type { Comparison, KernelVersion, ModeAnswer, ModeResult, RateEstimate, ResultFile } from '../types.js';

/**
 * What every document rendering (Markdown, HTML) shows, as plain rows of text: built once here so the
 * renderings differ only in markup.
 */
export interface Table {
  header: string[];
  rows: string[][];
  /** Left-align every column (text tables); default: first column left, figures right. */
  text?: boolean;
}

/** Counters shown up front; every other delta goes to the folded full table. */
const KEY_COUNTERS: Record<'conntrack' | 'clients' | 'server', readonly string[] | null> = {
  conntrack: null,
  clients: ['TcpExtTCPSynRetrans', 'TcpActiveOpens', 'TcpAttemptFails', 'UdpInErrors', 'UdpRcvbufErrors', 'UdpInCsumErrors'],
  server: ['TcpExtListenOverflows', 'TcpExtListenDrops', 'TcpPassiveOpens', 'UdpInErrors', 'UdpRcvbufErrors', 'UdpInCsumErrors'],
};

/** A scenario's own rows of the modes table (its folder's rows.ts), below the common ones. */
export type ScenarioRows = (modes: readonly ModeResult[]) => string[][];

export interface ReportModel {
  result: ResultFile;
  /** The modes side by side as the terminal shows them: measurements, counters, attribution, the scenario's rows, verdicts. */
  summary: Table;
  /** Conditions of the host that change what the run means. */
  hostWarnings: string[];
  /** Which known conntrack/NAT changes the kernel carries, in one line. */
  kernelLine: string;
  title: string;
  /** The verdict in one sentence, first thing a reader sees. */
  headline: string;
  /** What to do about what the run found: the mode that fixed it, the rule to write, the resolv.conf option. */
  remediation: string[];
  /** One line per mode: its verdict and why. */
  modeVerdicts: { mode: string; verdict: string; reason: string; notes: string[] }[];
  /** One line per comparison of the headline metric (with phases: the phase that settles it, named). */
  comparisonLines: string[];
  /** tcp-syn with a burst phase: per mode, is it vulnerable and what a steady storm did, first thing after the headline. */
  answerLines: string[];
  modes: Table;
  rates: Table;
  counters: Table;
  allCounters: Table;
  comparisons: Table;
  environment: Table;
  kernelFixes: FixAssessment[];
  kernelCaveat: string;
  conntrackSysctls: Table;
  config: string;
  command: string;
  /** The same run with every option spelled out, so defaults changing later do not change it. */
  fullCommand: string | null;
}

function rateCell(m: ModeResult, metric: string): string {
  const r = m.rates?.find((x: RateEstimate) => x.metric === metric);
  return r ? fmtRate(r) : '-';
}

function counterRows(ms: readonly ModeResult[], keyOnly: boolean): string[][] {
  const rows: string[][] = [];
  for (const group of ['conntrack', 'clients', 'server'] as const) {
    const key = KEY_COUNTERS[group];
    const keys = [...new Set(ms.flatMap((m) => Object.keys(m.counters[group])))]
      .filter((k) => !keyOnly || key === null || key.includes(k))
      .sort();
    for (const k of keys) rows.push([`${group} ${k}`, ...ms.map((m) => delta(m.counters[group][k]))]);
  }
  return rows;
}

function ratio(c: Comparison): string {
  const est = c.rateRatio.estimate === null ? (c.candidateCount > 0 ? '∞' : '–') : num(c.rateRatio.estimate);
  return `${est} (${num(c.rateRatio.lower)}–${c.rateRatio.upper === null ? '∞' : num(c.rateRatio.upper)})`;
}

/**
 * dns and vxlan: the config keys that are options of the command, with their flags, in the order --help lists
 * them. Keys that are not options (the subnets and addresses picked, the resolver timing read) stay out.
 */
const OPTION_FLAGS: readonly [string, string][] = [
  ['client', '--client'], ['clients', '--clients'], ['workers', '--workers'], ['concurrency', '--concurrency'],
  ['queries', '--queries'], ['connections', '--connections'], ['durationSec', '--duration'], ['connectTimeoutMs', '--connect-timeout'],
  ['backends', '--backends'], ['vip', '--vip'], ['zone', '--zone'], ['serverWorkers', '--server-workers'], ['port', '--port'],
  ['serverPort', '--port'], ['servicePort', '--service-port'], ['vxlanPort', '--vxlan-port'], ['detectRatePer100k', '--detect-rate'],
];

/** The run with every option that decided it spelled out, so defaults changing later do not change it. */
export function fullCommand(r: ResultFile): string | null {
  if (r.scenario === 'tcp-syn') return fullTcpSynCommand(r);
  const c = r.config;
  const parts = [`repro ${r.scenario}`, `--backend ${c.backend}`, `--modes ${c.modes.join(',')}`];
  for (const [key, flag] of OPTION_FLAGS) {
    const v = c[key];
    if (typeof v === 'boolean') parts.push(`${flag} ${v ? 'on' : 'off'}`);
    else if (typeof v === 'number' || typeof v === 'string') parts.push(`${flag} ${v}`);
  }
  return parts.join(' ');
}

export function fullTcpSynCommand(r: ResultFile): string | null {
  if (r.scenario !== 'tcp-syn') return null;
  const c = r.config;
  return [
    'repro tcp-syn',
    `--backend ${c.backend}`,
    `--modes ${c.modes.join(',')}`,
    `--clients ${c.clients}`,
    `--workers ${c.workers}`,
    `--concurrency ${c.concurrency}`,
    `--connections ${c.connections}`,
    `--duration ${c.durationSec}`,
    `--port-range ${c.portRange.join('-')}`,
    `--close ${c.close}`,
    `--connect-timeout ${c.connectTimeoutMs}`,
    `--server-workers ${c.serverWorkers}`,
    `--port ${c.serverPort}`,
    `--detect-rate ${c.detectRatePer100k}`,
    `--load ${c.load ?? 'steady'}`,
    ...(c.load === 'burst' || c.load === 'both' ? [`--burst-ports ${(c.burstPorts ?? []).join('-')}`] : []),
    `--protocol ${c.protocol ?? 'tcp'}`,
    ...(c.keepalive ? ['--keepalive'] : []),
    `--capture ${c.capture ? 'on' : 'off'}`,
  ].join(' ');
}

function headlineOf(r: ResultFile, comparisons: readonly Comparison[]): string {
  const head = `${r.verdict.toUpperCase()}${r.interrupted ? ' (interrupted: partial result)' : ''}`;
  // Modes in plain words: "none" reads as "no NAT", the rule it stands for does not.
  const words = (name: string): string => modeInWords(r.scenario, name);
  const answers = (r.answers ?? modeAnswers(r)).filter((a) => a.vulnerable);
  if (answers.length > 0) return `${head}: ${phasedHeadline(answers, comparisons, words)}`;
  const mode = (v: string): string[] => r.modes.filter((m) => m.verdict === v).map((m) => (hasPhases(r) && m.load ? `${words(m.mode)} (${m.load})` : words(m.mode)));
  const parts: string[] = [];
  const rep = mode('reproduced');
  // What vxlan reproduces is a second SNAT, not a race.
  const finding = r.scenario === 'vxlan' ? 'the vxlan double SNAT' : `the ${r.scenario} race`;
  if (rep.length > 0) parts.push(`${finding} was reproduced with ${rep.join(', ')}`);
  const vul = mode('vulnerable');
  if (vul.length > 0) parts.push(`${vul.join(', ')} vulnerable when provoked`);
  const hidden = mode('race-resolved');
  if (hidden.length > 0) parts.push(`the race happened with ${hidden.join(', ')} and the kernel resolved it (no lookup lost)`);
  const inv = mode('invalid');
  if (inv.length > 0) parts.push(`${inv.join(', ')} invalid (the harness was a bottleneck)`);
  const race = comparisons.filter((c) => c.metric === headlineMetric(comparisons));
  const decided = race.filter((c) => c.verdict === 'better' || c.verdict === 'worse');
  for (const c of decided) parts.push(`${words(c.candidate)} is ${c.verdict} than ${words(c.baseline)} (${pClause(c.pValue)})`);
  if (race.length > 0 && decided.length === 0) {
    parts.push(`no mode differs significantly from ${race[0] ? words(race[0].baseline) : 'the first'}`);
  }
  return parts.length > 0 ? `${head}: ${parts.join('; ')}` : head;
}

/** "MASQUERADE without a flag is vulnerable (18,620 ...); MASQUERADE --random-fully is not vulnerable (below 30 per 100 000 provoked, one-sided 95 %); ... is better than ... (burst phase, p < 1e-300)" */
function phasedHeadline(answers: readonly ModeAnswer[], comparisons: readonly Comparison[], words: (mode: string) => string): string {
  const parts = answers.map((a) => {
    const v = a.vulnerable;
    if (!v) return '';
    if (v.verdict === 'vulnerable') return `${words(a.mode)} is vulnerable (${num(v.per100k)} race drops per 100 000 provoked connects)`;
    if (v.verdict === 'not-vulnerable') return `${words(a.mode)} is not vulnerable (below ${num(v.ruledOutAbove ?? Infinity)} per 100 000 provoked, one-sided 95 %)`;
    return `${words(a.mode)}: ${v.verdict} under provocation`;
  });
  for (const c of settlingComparisons(comparisons)) {
    if (c.verdict === 'better' || c.verdict === 'worse') parts.push(`${words(c.candidate)} is ${c.verdict} than ${words(c.baseline)} (${c.load ?? ''} phase, ${pClause(c.pValue)})`);
  }
  return parts.join('; ');
}

/**
 * The headline metric's comparisons, one per candidate: where modes were compared in two phases, the one that settles
 * it (better or worse; the burst phase first, whose provoked counts settle what a storm's few cannot), else the burst's.
 */
function settlingComparisons(comparisons: readonly Comparison[]): Comparison[] {
  const race = comparisons.filter((c) => c.metric === headlineMetric(comparisons));
  const candidates = [...new Set(race.map((c) => c.candidate))];
  return candidates.flatMap((cand) => {
    const mine = race.filter((c) => c.candidate === cand);
    const pick = mine.find((c) => c.verdict === 'better' || c.verdict === 'worse') ?? mine.find((c) => c.verdict === 'no difference') ?? mine[0];
    return pick ? [pick] : [];
  });
}

/** One line: which known conntrack/NAT changes the kernel carries (details in report.md / report.html). */
export function kernelLine(version: KernelVersion): string {
  const fixes = assessKernel(version);
  const list = (st: string): string => fixes.filter((f) => f.status === st).map((f) => f.id).join(', ');
  // Changes whose presence the version cannot tell are neither counted as carried nor as lacking.
  const atLeast = list('unknown') ? 'at least ' : '';
  const parts = [`kernel ${kernelVersionText(version)} carries ${atLeast}${fixes.filter((f) => f.status === 'present').length} of ${fixes.length} known conntrack/NAT changes`];
  if (list('absent')) parts.push(`lacks: ${list('absent')}`);
  if (list('uncertain')) parts.push(`uncertain: ${list('uncertain')}`);
  if (list('unknown')) parts.push(`unknown without the sublevel: ${list('unknown')}`);
  return parts.join('; ');
}

/** The modes side by side, one row per figure, as the terminal shows them. */
function summaryRows(ms: readonly ModeResult[], scenarioRows: ScenarioRows): string[][] {
  const row = (label: string, f: (m: ModeResult) => string): string[] => modeRow(ms, label, f);
  const lost = attemptNoun(ms) === 'lookup' ? 'lost queries' : 'lost SYNs';
  return [
    ...measurementRows(ms),
    row('slow, no band', (m) => int(m.slowOutsideBands)),
    row('conntrack insert_failed', (m) => delta(m.counters.conntrack['insert_failed'])),
    row('conntrack drop', (m) => delta(m.counters.conntrack['drop'])),
    row('clients SynRetrans', (m) => delta(m.counters.clients['TcpExtTCPSynRetrans'])),
    row('server ListenOverflows', (m) => delta(m.counters.server['TcpExtListenOverflows'])),
    row('server ListenDrops', (m) => delta(m.counters.server['TcpExtListenDrops'])),
    row(`${lost}: race`, (m) => int(m.attribution.conntrackRace)),
    row(`${lost}: server`, (m) => int(m.attribution.serverOverload)),
    row(`${lost}: unexplained`, (m) => int(m.attribution.unexplained)),
    ...scenarioRows(ms),
    row('verdict', (m) => m.verdict.toUpperCase()),
  ];
}

const NO_ROWS: ScenarioRows = () => [];

/**
 * Rows whose cells agree in every mode, said once: "stalls = lost = race per 100k" rather than the same intervals
 * three times. Labels are the metrics; `suffix` ends the merged label.
 */
export function mergeEqualRows(rows: readonly string[][], suffix: string): string[][] {
  const groups: string[][][] = [];
  for (const r of rows) {
    const g = groups.find((x) => x[0]?.slice(1).join('\u0000') === r.slice(1).join('\u0000'));
    if (g) g.push(r);
    else groups.push([r]);
  }
  return groups.map((g) => [`${g.map((r) => r[0]).join(' = ')}${suffix}`, ...(g[0]?.slice(1) ?? [])]);
}

/** Pure: the report's content from a result (statistics recomputed when the file predates them). */
export function buildReportModel(input: ResultFile, scenarioRows: ScenarioRows = NO_ROWS): ReportModel {
  const r = input.comparisons && input.modes.every((m) => m.rates) ? input : withStatistics(input);
  const ms = r.modes;
  const comparisons = r.comparisons ?? [];
  const row = (label: string, f: (m: ModeResult) => string): string[] => modeRow(ms, label, f);
  const env = r.environment;
  const labels = ms.map((m) => entryLabel(r, m));
  const phased = hasPhases(r);
  const nodeOk = env.nodeEngines ? nodeSatisfies(env.node, env.nodeEngines) : null;
  const nodeWarning = nodeOk === false
    ? [`node ${env.node} is outside the versions this build supports (package.json engines: ${env.nodeEngines ?? ''}): the load engines and timings may differ from a supported runtime`]
    : [];
  return {
    result: r,
    summary: { header: ['', ...labels], rows: summaryRows(ms, scenarioRows) },
    hostWarnings: [...(r.hostWarnings ?? typedHostWarnings(env)).map((w) => w.message), ...nodeWarning],
    kernelLine: kernelLine(env.kernelVersion),
    // The verdict first: a browser tab or an attachment list shows the title alone.
    title: `${r.verdict.toUpperCase()}${r.interrupted ? ' (partial)' : ''} · repro ${r.scenario} · run ${r.runId} · ${r.startedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}`,
    headline: headlineOf(r, comparisons),
    remediation: remediationLines(r),
    modeVerdicts: ms.map((m) => ({
      mode: entryLabel(r, m), verdict: m.verdict, reason: groupCounts(m.reason), notes: [...m.notes, ...evidenceLines(m.evidence)].map(groupCounts),
    })),
    comparisonLines: settlingComparisons(comparisons).map((c) => groupCounts(`${c.candidate} vs ${c.baseline}${c.load && phased ? ` (${c.load} phase)` : ''}: ${c.verdict} — ${c.reason}`)),
    answerLines: (r.scenario === 'dns' ? (phased ? ms.map(dnsEntryLine) : []) : (r.answers ?? modeAnswers(r)).filter((a) => a.vulnerable && phased).map(answerLine)).map(groupCounts),
    modes: {
      header: ['', ...labels],
      rows: [
        row('verdict', (m) => m.verdict),
        ...measurementRows(ms),
        ...mergeEqualRows(
          (r.scenario === 'vxlan' ? ['double_snat', 'stalls', 'lost', 'checksum'] : ['stalls', 'lost', 'race'])
            .map((metric) => row(metric === 'double_snat' ? 'double SNAT (of outer flows)' : metric, (m) => rateCell(m, metric)))
            .filter((cells) => cells.slice(1).some((c) => c !== '-')),
          ' per 100k (two-sided 95 % CI)',
        ),
        row(`lost (${ms[0]?.attribution.unit ?? 'lost-syn'}): race / server / unexplained`, (m) =>
          `${m.attribution.conntrackRace} / ${m.attribution.serverOverload} / ${m.attribution.unexplained}`),
        ...scenarioRows(ms),
      ],
    },
    rates: {
      header: ['per 100 000 attempts (exact two-sided 95 % CI)', ...labels],
      rows: [...new Set(ms.flatMap((m) => (m.rates ?? []).map((x) => x.metric)))].map((metric) => row(metric, (m) => rateCell(m, metric))),
    },
    counters: { header: ['counter delta', ...labels], rows: counterRows(ms, true) },
    allCounters: { header: ['counter delta', ...labels], rows: counterRows(ms, false) },
    comparisons: {
      text: true,
      header: ['candidate vs baseline', 'metric', 'counts', 'rate ratio (95 % CI)', 'p', 'verdict', 'settles at'],
      rows: comparisons.map((c) => [
        `${c.candidate} vs ${c.baseline}${c.load && phased ? ` (${c.load})` : ''}`,
        c.metric,
        `${int(c.candidateCount)}/${int(c.candidateAttempts)} vs ${int(c.baselineCount)}/${int(c.baselineAttempts)}`,
        ratio(c),
        fmtP(c.pValue),
        c.verdict,
        c.attemptsToSettle === null ? (c.verdict === 'inconclusive' ? 'out of reach' : '') : `~${int(c.attemptsToSettle)} attempts`,
      ]),
    },
    environment: {
      text: true,
      header: ['', ''],
      rows: [
        ['system', `${env.distribution ?? (env.distribution === null ? '(no /etc/os-release)' : '(not recorded)')} · ${env.arch} · ${env.cpus} CPUs`],
        ...(env.hostname ? [['host', env.hostname]] : []),
        ['kernel', `${env.kernel} (${env.os})`],
        ['kernel version', kernelVersionWithSource(env.kernelVersion)],
        ['iptables', `${env.iptables.version} (${env.iptables.backend})`],
        ['backend', env.backend + (env.docker ? ` (Docker ${env.docker.version})` : '')],
        ...(env.vm ? [['vm', `QEMU ${env.vm.qemu} ${env.vm.accel === 'tcg' ? 'TCG (emulated CPUs)' : 'KVM'}, ${env.vm.cpus} vCPUs, ${env.vm.memoryMb} MB, kernel ${env.vm.kernelSource}`]] : []),
        ['node', `${env.node}${nodeOk === false ? ` (unsupported: engines ${env.nodeEngines ?? ''})` : ''}`],
        ['harness', `${env.harness.name} ${env.harness.version}${env.harness.commit ? ` (${env.harness.commit})` : ''}`],
        ['conntrack stat columns', env.conntrackColumns.join(' ') || '(none read)'],
        ['conntrack stats source', env.conntrackStatsSource ?? '(not recorded)'],
      ],
    },
    kernelFixes: assessKernel(env.kernelVersion),
    kernelCaveat: VENDOR_CAVEAT,
    conntrackSysctls: { text: true, header: ['sysctl', 'value'], rows: Object.entries(env.conntrackSysctls) },
    config: configLine(r),
    command: r.command,
    fullCommand: fullCommand(r),
  };
}
