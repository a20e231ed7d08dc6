import { assessKernel, kernelVersionText, kernelVersionWithSource, VENDOR_CAVEAT, type FixAssessment } from '../analysis/kernelFixes.js';
import { withStatistics } from '../analysis/runStatistics.js';
import { attemptNoun, configLine, measurementRows, modeRow } from './modeRows.js';
import { typedHostWarnings } from '../analysis/hostWarnings.js';
import { headlineMetric } from '../analysis/comparisons.js';
import { evidenceLines } from '../analysis/evidence.js';
import { delta, fmtP, fmtRate, int, num } from './format.js';
import type { Comparison, KernelVersion, ModeResult, RateEstimate, ResultFile } from '../types.js';

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
  /** One line per mode: its verdict and why. */
  modeVerdicts: { mode: string; verdict: string; reason: string; notes: string[] }[];
  /** One line per comparison of the headline metric. */
  comparisonLines: string[];
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
  /** For tcp-syn: the same run with every option spelled out, so defaults changing later do not change it. */
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
    ...(c.load === 'burst' ? ['--load burst', `--burst-ports ${(c.burstPorts ?? []).join('-')}`] : []),
  ].join(' ');
}

function headlineOf(r: ResultFile, comparisons: readonly Comparison[]): string {
  const mode = (v: string): string[] => r.modes.filter((m) => m.verdict === v).map((m) => m.mode);
  const parts: string[] = [];
  const rep = mode('reproduced');
  if (rep.length > 0) parts.push(`the ${r.scenario} race was reproduced with ${rep.join(', ')}`);
  const hidden = mode('race-resolved');
  if (hidden.length > 0) parts.push(`the race happened with ${hidden.join(', ')} and the kernel resolved it (no lookup lost)`);
  const inv = mode('invalid');
  if (inv.length > 0) parts.push(`${inv.join(', ')} invalid (the harness was a bottleneck)`);
  const race = comparisons.filter((c) => c.metric === headlineMetric(comparisons));
  const decided = race.filter((c) => c.verdict === 'better' || c.verdict === 'worse');
  for (const c of decided) parts.push(`${c.candidate} is ${c.verdict} than ${c.baseline} (p = ${fmtP(c.pValue)})`);
  if (race.length > 0 && decided.length === 0) {
    parts.push(`no mode differs significantly from ${race[0]?.baseline ?? 'the first'}`);
  }
  const head = `${r.verdict.toUpperCase()}${r.interrupted ? ' (interrupted: partial result)' : ''}`;
  return parts.length > 0 ? `${head}: ${parts.join('; ')}` : head;
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

/** Pure: the report's content from a result (statistics recomputed when the file predates them). */
export function buildReportModel(input: ResultFile, scenarioRows: ScenarioRows = NO_ROWS): ReportModel {
  const r = input.comparisons && input.modes.every((m) => m.rates) ? input : withStatistics(input);
  const ms = r.modes;
  const comparisons = r.comparisons ?? [];
  const row = (label: string, f: (m: ModeResult) => string): string[] => modeRow(ms, label, f);
  const env = r.environment;
  return {
    result: r,
    summary: { header: ['', ...ms.map((m) => m.mode)], rows: summaryRows(ms, scenarioRows) },
    hostWarnings: (r.hostWarnings ?? typedHostWarnings(env)).map((w) => w.message),
    kernelLine: kernelLine(env.kernelVersion),
    title: `repro ${r.scenario} · run ${r.runId} · ${r.startedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}`,
    headline: headlineOf(r, comparisons),
    modeVerdicts: ms.map((m) => ({ mode: m.mode, verdict: m.verdict, reason: m.reason, notes: [...m.notes, ...evidenceLines(m.evidence)] })),
    comparisonLines: comparisons.filter((c) => c.metric === headlineMetric(comparisons)).map((c) => `${c.candidate} vs ${c.baseline}: ${c.verdict} — ${c.reason}`),
    modes: {
      header: ['', ...ms.map((m) => m.mode)],
      rows: [
        row('verdict', (m) => m.verdict),
        ...measurementRows(ms),
        row('stalls per 100k (two-sided 95 % CI)', (m) => rateCell(m, 'stalls')),
        row('lost per 100k (two-sided 95 % CI)', (m) => rateCell(m, 'lost')),
        row('race per 100k (two-sided 95 % CI)', (m) => rateCell(m, 'race')),
        row(`lost (${ms[0]?.attribution.unit ?? 'lost-syn'}): race / server / unexplained`, (m) =>
          `${m.attribution.conntrackRace} / ${m.attribution.serverOverload} / ${m.attribution.unexplained}`),
        ...scenarioRows(ms),
      ],
    },
    rates: {
      header: ['per 100 000 attempts (exact two-sided 95 % CI)', ...ms.map((m) => m.mode)],
      rows: [...new Set(ms.flatMap((m) => (m.rates ?? []).map((x) => x.metric)))].map((metric) => row(metric, (m) => rateCell(m, metric))),
    },
    counters: { header: ['counter delta', ...ms.map((m) => m.mode)], rows: counterRows(ms, true) },
    allCounters: { header: ['counter delta', ...ms.map((m) => m.mode)], rows: counterRows(ms, false) },
    comparisons: {
      text: true,
      header: ['candidate vs baseline', 'metric', 'counts', 'rate ratio (95 % CI)', 'p', 'verdict', 'settles at'],
      rows: comparisons.map((c) => [
        `${c.candidate} vs ${c.baseline}`,
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
        ['kernel', env.kernel],
        ['kernel version', kernelVersionWithSource(env.kernelVersion)],
        ['OS / arch / CPUs', `${env.os} / ${env.arch} / ${env.cpus}`],
        ['iptables', `${env.iptables.version} (${env.iptables.backend})`],
        ['backend', env.backend + (env.docker ? ` (Docker ${env.docker.version})` : '')],
        ...(env.vm ? [['vm', `QEMU ${env.vm.qemu} ${env.vm.accel === 'tcg' ? 'TCG (emulated CPUs)' : 'KVM'}, ${env.vm.cpus} vCPUs, ${env.vm.memoryMb} MB, kernel ${env.vm.kernelSource}`]] : []),
        ['node', env.node],
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
    fullCommand: fullTcpSynCommand(r),
  };
}
