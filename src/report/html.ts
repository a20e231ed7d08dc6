import { buildReportModel, type ReportModel, type ScenarioRows, type Table } from './reportModel.js';
import { escapeXml, latencyChart, ratesChart, type RatePoint } from './svgCharts.js';
import { kernelVersionText } from '../analysis/kernelFixes.js';
import type { ResultFile } from '../types.js';

const esc = escapeXml;

function htmlTable(t: Table): string {
  const cls = t.text ? 'wide' : '';
  const head = `<tr>${t.header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>`;
  const body = t.rows.map((r) => `<tr>${r.map((c, j) => (j === 0 ? `<th scope="row">${esc(c)}</th>` : `<td>${esc(c)}</td>`)).join('')}</tr>`).join('\n');
  return `<table class="${cls}"><thead>${head}</thead><tbody>${body}</tbody></table>`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.verdict{font-size:16px;padding:10px 14px;border-radius:6px;background:#f2f2f2;border-left:6px solid #888}
.verdict.reproduced{border-color:#c9302c;background:#fbeaea}.verdict.race-resolved{border-color:#8a6d3b;background:#fcf8e3}.verdict.not-reproduced{border-color:#3c763d;background:#eef7ee}
.verdict.inconclusive{border-color:#8a6d3b;background:#fcf8e3}.verdict.invalid{border-color:#555;background:#eee}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right;vertical-align:top}
th[scope=row],thead th:first-child{text-align:left}thead th{background:#f6f6f6}
table.wide td{text-align:left}.present{color:#3c763d}.absent{color:#a94442}.uncertain,.unknown{color:#8a6d3b}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px}pre{background:#f6f6f6;padding:8px;overflow-x:auto;white-space:pre-wrap}
svg.chart{max-width:100%;height:auto;border:1px solid #eee}ul{margin:6px 0}.muted{color:#666;font-size:12px}
`;

function ratePoints(m: ReportModel): RatePoint[] {
  return m.result.modes.flatMap((mode) =>
    (mode.rates ?? [])
      .filter((r) => r.metric === 'race' || r.metric === 'lost' || r.metric === 'stalls')
      .map((r) => ({ mode: mode.mode, metric: r.metric, per100k: r.per100k, lower: r.lower, upper: r.upper })),
  );
}

/** report.html: one self-contained file (inline CSS and SVG; no script, no network). */
export function renderHtmlModel(m: ReportModel): string {
  const r = m.result;
  const bands = [...new Set(r.modes.flatMap((x) => Object.keys(x.signatures)))];
  const fixHeader = ['change', 'race', 'here', 'basis', 'so this machine'];
  const fixRows = m.kernelFixes
    .map((f) => `<tr><th scope="row">${esc(f.change)}</th><td>${esc(f.race)}</td><td class="${f.status}">${esc(f.status)}</td><td>${esc(f.basis)}</td><td>${esc(f.meaning)}</td></tr>`)
    .join('\n');
  const notes = m.modeVerdicts.flatMap((v) => v.notes.map((n) => `<li>${esc(v.mode)}: ${esc(n)}</li>`));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(m.title)}</title><style>${CSS}</style></head>
<body>
<h1>${esc(m.title)}</h1>
<p class="verdict ${esc(r.verdict)}" id="verdict"><strong>Verdict: ${esc(m.headline)}</strong></p>
<ul>${m.modeVerdicts.map((v) => `<li><strong>${esc(v.mode)}</strong>: ${esc(v.verdict)} — ${esc(v.reason)}</li>`).join('')}
${m.comparisonLines.map((l) => `<li>${esc(l)}</li>`).join('')}</ul>
${m.hostWarnings.length > 0 ? `<ul class="warnings">${m.hostWarnings.map((w) => `<li><strong>warning</strong>: ${esc(w)}</li>`).join('')}</ul>` : ''}
<h2>Latency distributions</h2>
<p class="muted">${esc(m.config)}. Successful connects only; failures (timeouts included) are counted in the table below. Shaded: the signature bands (${esc(bands.join(', ') || 'none')}).</p>
${latencyChart(r.modes.map((x) => ({ name: x.mode, histogram: x.histogram })), bands, `connect latency by mode, run ${r.runId}`)}
<h2>Modes side by side</h2>
${htmlTable(m.modes)}
${notes.length > 0 ? `<p>Notes:</p><ul>${notes.join('')}</ul>` : ''}
<h2>Comparisons</h2>
<p class="muted">Each mode against the first: exact conditional binomial test of two Poisson counts; Clopper-Pearson interval for the rate ratio.</p>
${m.comparisons.rows.length > 0 ? htmlTable(m.comparisons) : '<p>One mode only: nothing to compare.</p>'}
${ratesChart(ratePoints(m), r.modes.map((x) => x.mode), 'race and stall rates per 100 000 attempts')}
<h2>Kernel counters</h2>
${htmlTable(m.counters)}
<details><summary>All counter deltas</summary>${htmlTable(m.allCounters)}</details>
<details><summary>Rates per 100 000 attempts, every metric</summary>${htmlTable(m.rates)}</details>
<h2>Environment</h2>
${htmlTable(m.environment)}
<p>What kernel ${esc(kernelVersionText(r.environment.kernelVersion))} can show (known conntrack/NAT changes):</p>
<table class="wide fixes"><thead><tr>${fixHeader.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${fixRows}</tbody></table>
<p class="muted">${esc(m.kernelCaveat)}</p>
<details><summary>conntrack sysctls</summary>${htmlTable(m.conntrackSysctls)}</details>
<h2>Reproduce</h2>
<pre>${esc(m.command)}</pre>
${m.fullCommand ? `<details><summary>with every option spelled out</summary><pre>${esc(m.fullCommand)}</pre></details>` : ''}
<p class="muted">Signature bands: ${esc(r.signatureBands.description)}. repro/result@1, run ${esc(r.runId)}, ${esc(r.startedAt)} – ${esc(r.finishedAt)}.</p>
</body></html>
`;
}

export function renderHtml(r: ResultFile, scenarioRows?: ScenarioRows): string {
  return renderHtmlModel(buildReportModel(r, scenarioRows));
}
