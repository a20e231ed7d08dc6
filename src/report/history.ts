/**
 * `repro history`: the history of one or more series (src/analysis/history.ts) as Markdown (a ticket, a job
 * summary), one self-contained HTML page with a chart, or JSON.
 */
import { mdTable } from './markdown.js';
import { inline } from './html.js';
import { escapeXml, MODE_COLORS } from './svgCharts.js';
import { fmtMs, fmtRate, int, niceTicks, num, pClause } from './format.js';
import type { History, HistoryRun } from '../analysis/history.js';
import type { Table } from './reportModel.js';

/**
 * The moves to show: the headline metric's, and another metric's only for a mode whose headline did not move (race
 * and lost usually move together; one mark says it).
 */
function shownMoves(run: HistoryRun, metric: string): HistoryRun['significant'] {
  const head = run.significant.filter((c) => c.metric === metric);
  return [...head, ...run.significant.filter((c) => c.metric !== metric && !head.some((h) => h.candidate === c.candidate))];
}

const when = (iso: string): string => iso.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, ' UTC');

/** A run's flags: what changed against the run before it, and the comparisons that moved. */
export function runFlags(run: HistoryRun, metric: string): string[] {
  return [
    ...run.changes.map((c) => `changed: ${c}`),
    ...shownMoves(run, metric).map((c) => `${c.candidate.replace(/^new /, '')} ${c.metric} ${c.verdict} than the run before (${int(c.candidateCount)}/${int(c.candidateAttempts)} vs ${int(c.baselineCount)}/${int(c.baselineAttempts)}, ${pClause(c.pValue)})`),
    ...(run.interrupted ? ['interrupted (partial result)'] : []),
  ];
}

function runsTable(h: History): Table {
  return {
    text: true,
    header: ['#', 'run', 'started', 'kernel', 'harness', 'flags'],
    rows: h.runs.map((r, i) => [String(i + 1), r.runId, when(r.startedAt), r.kernel, r.harness, runFlags(r, h.metric).join('; ') || '-']),
  };
}

function modeTable(h: History, mode: string): Table {
  return {
    header: ['#', 'verdict', `${h.metric} per 100k (95 % CI)`, 'attempts', 'connects/s', 'p99'],
    rows: h.runs.map((r, i) => {
      const p = r.points.find((x) => x.mode === mode);
      const moved = shownMoves(r, h.metric).filter((c) => c.candidate === `new ${mode}`).map((c) => (c.verdict === 'worse' ? ' ▲' : ' ▼')).join('');
      return p
        ? [String(i + 1), p.verdict, `${p.rate ? fmtRate(p.rate) : '-'}${moved}`, int(p.attempts), int(p.connectsPerSecond), fmtMs(p.p99Ms)]
        : [String(i + 1), '-', '-', '-', '-', '-'];
    }),
  };
}

function title(h: History): string {
  const first = h.runs[0];
  const last = h.runs[h.runs.length - 1];
  return `History of ${h.label}${h.label !== h.scenario ? ` (${h.scenario})` : ''}: ${h.runs.length} run${h.runs.length === 1 ? '' : 's'}${first && last ? `, ${when(first.startedAt)} – ${when(last.startedAt)}` : ''}`;
}

const LEGEND_TEXT = '▲/▼: significantly worse/better than the run before, by the exact test `repro diff` makes.';

export function renderHistoryMarkdown(hs: readonly History[]): string {
  const out: string[] = [];
  for (const h of hs) {
    out.push(`# ${title(h)}`, '', mdTable(runsTable(h)), '');
    for (const mode of h.modes) out.push(`## ${mode}`, '', mdTable(modeTable(h, mode)), '');
    out.push(`_${LEGEND_TEXT} Rates are per 100 000 attempts with exact two-sided 95 % intervals._`, '');
  }
  return out.join('\n');
}

export function renderHistoryJson(hs: readonly History[]): string {
  return JSON.stringify(hs.length === 1 ? hs[0] : hs, null, 2) + '\n';
}

/**
 * The headline rate of every mode over the runs, with its interval; a dashed line before each run whose kernel,
 * rules, options or harness changed, labelled with what changed.
 */
export function historyChart(h: History): string {
  const W = 860;
  const H = 340;
  const pad = { left: 64, right: 16, top: 40, bottom: 70 };
  const n = h.runs.length;
  const uppers = h.runs.flatMap((r) => r.points.map((p) => p.rate?.upper ?? 0)).filter((u) => Number.isFinite(u));
  const ticks = niceTicks(Math.max(1, ...uppers));
  const maxV = ticks[ticks.length - 1] ?? 1;
  const plotW = W - pad.left - pad.right;
  const plotH = H - pad.top - pad.bottom;
  const x = (i: number): number => pad.left + (n <= 1 ? plotW / 2 : (i / (n - 1)) * plotW * 0.9 + plotW * 0.05);
  const y = (v: number): number => pad.top + plotH - (Math.min(v, maxV) / maxV) * plotH;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="chart history" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeXml(`${h.metric} per 100 000 attempts over ${n} runs`)}">`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  for (const v of ticks) {
    parts.push(`<line x1="${pad.left}" y1="${y(v).toFixed(1)}" x2="${W - pad.right}" y2="${y(v).toFixed(1)}" stroke="#eee"/>`);
    parts.push(`<text x="${pad.left - 6}" y="${(y(v) + 4).toFixed(1)}" font-size="11" text-anchor="end">${num(v)}</text>`);
  }
  h.runs.forEach((r, i) => {
    parts.push(`<text x="${x(i).toFixed(1)}" y="${pad.top + plotH + 16}" font-size="11" text-anchor="middle">${i + 1}</text>`);
    if (r.changes.length > 0) {
      const xm = i === 0 ? x(i) : (x(i) + x(i - 1)) / 2;
      parts.push(`<line class="change" x1="${xm.toFixed(1)}" y1="${pad.top}" x2="${xm.toFixed(1)}" y2="${pad.top + plotH}" stroke="#a94442" stroke-dasharray="4 3"><title>${escapeXml(r.changes.join('; '))}</title></line>`);
      parts.push(`<text class="change-label" x="${(xm + 3).toFixed(1)}" y="${pad.top - 6}" font-size="11" fill="#a94442">${escapeXml(r.changes.map((c) => c.split(' ')[0]).join(', '))} changed</text>`);
    }
  });
  h.modes.forEach((mode, mi) => {
    const color = MODE_COLORS[mi % MODE_COLORS.length] ?? '#000';
    const pts = h.runs.map((r, i) => ({ i, p: r.points.find((q) => q.mode === mode)?.rate ?? null }));
    const line = pts.filter((q) => q.p).map((q) => `${x(q.i).toFixed(1)},${y(q.p?.per100k ?? 0).toFixed(1)}`).join(' ');
    parts.push(`<polyline class="series" data-mode="${escapeXml(mode)}" fill="none" stroke="${color}" stroke-width="1.6" points="${line}"/>`);
    for (const { i, p } of pts) {
      if (!p) continue;
      const dx = (mi - (h.modes.length - 1) / 2) * 4;
      parts.push(`<line x1="${(x(i) + dx).toFixed(1)}" y1="${y(p.lower).toFixed(1)}" x2="${(x(i) + dx).toFixed(1)}" y2="${y(p.upper).toFixed(1)}" stroke="${color}" stroke-width="2"/>`);
      parts.push(`<circle class="point" cx="${(x(i) + dx).toFixed(1)}" cy="${y(p.per100k).toFixed(1)}" r="4" fill="${color}"><title>${escapeXml(`run ${i + 1} ${mode}: ${fmtRate(p)} per 100k`)}</title></circle>`);
    }
    parts.push(`<g class="legend-item"><rect x="${pad.left + mi * 150}" y="${H - 22}" width="12" height="12" fill="${color}"/><text x="${pad.left + mi * 150 + 18}" y="${H - 12}" font-size="12">${escapeXml(mode)}</text></g>`);
  });
  parts.push(`<text x="${pad.left + plotW / 2}" y="${pad.top + plotH + 34}" font-size="12" text-anchor="middle">run (oldest first)</text>`);
  parts.push(`<text transform="translate(14 ${pad.top + plotH / 2}) rotate(-90)" font-size="12" text-anchor="middle">${escapeXml(h.metric)} per 100 000 attempts</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

function htmlTable(t: Table): string {
  const head = `<tr>${t.header.map((c) => `<th>${escapeXml(c)}</th>`).join('')}</tr>`;
  const body = t.rows.map((r) => `<tr>${r.map((c) => `<td>${escapeXml(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table class="${t.text ? 'wide' : ''}"><thead>${head}</thead><tbody>${body}</tbody></table>`;
}

export function renderHistoryHtml(hs: readonly History[]): string {
  const css = `body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:20px}h2{font-size:16px;margin:24px 0 8px;border-bottom:1px solid #ddd}table{border-collapse:collapse;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f6f6f6}table.wide td,table.wide th{text-align:left}
td:first-child,th:first-child,td:nth-child(2),th:nth-child(2){text-align:left}svg.chart{max-width:100%;height:auto;border:1px solid #eee}.muted{color:#666;font-size:12px}
@media print{body{margin:0;max-width:none}svg.chart{width:100%}table{break-inside:avoid}}`;
  const body = hs.map((h, k) => `<h1 id="series-${k + 1}">${escapeXml(title(h))}</h1>
${historyChart(h)}
<p class="muted">${inline(LEGEND_TEXT)} Dashed: a run whose kernel, rules, options or harness changed.</p>
${htmlTable(runsTable(h))}
${h.modes.map((m) => `<h2 id="${k + 1}-${escapeXml(m)}">${escapeXml(m)}</h2>\n${htmlTable(modeTable(h, m))}`).join('\n')}`).join('\n');
  const headline = hs.map((h) => title(h)).join('; ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeXml(headline)}</title><style>${css}</style></head>
<body>
${body}
</body></html>
`;
}
