import { buildReportModel, type ReportModel, type ScenarioRows, type Table } from './reportModel.js';
import { escapeXml, latencyChart, ratesChart, type RatePoint } from './svgCharts.js';
import { kernelVersionText } from '../analysis/kernelFixes.js';
import { entryLabel } from '../analysis/answers.js';
import type { ResultFile } from '../types.js';

const esc = escapeXml;

/** Text whose `code` spans (the analysis and the kernel table write them Markdown-style) become <code>, escaped. */
export function inline(s: string): string {
  return s.split(/(`[^`]+`)/).map((part) => (/^`[^`]+`$/.test(part) ? `<code>${esc(part.slice(1, -1))}</code>` : esc(part))).join('');
}

/** A section heading with an anchor, so a ticket can link straight to it (report.html#comparisons). */
function h2(id: string, text: string): string {
  return `<h2 id="${id}"><a class="anchor" href="#${id}">${esc(text)}</a></h2>`;
}

function htmlTable(t: Table): string {
  const cls = t.text ? 'wide' : '';
  const head = `<tr>${t.header.map((h) => `<th>${inline(h)}</th>`).join('')}</tr>`;
  const body = t.rows.map((r) => `<tr>${r.map((c, j) => (j === 0 ? `<th scope="row">${inline(c)}</th>` : `<td>${inline(c)}</td>`)).join('')}</tr>`).join('\n');
  // A header of empty cells (the environment's key/value table) would print as an empty bar.
  const thead = t.header.some((h) => h !== '') ? `<thead>${head}</thead>` : '';
  return `<table class="${cls}">${thead}<tbody>${body}</tbody></table>`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.verdict{font-size:16px;padding:10px 14px;border-radius:6px;background:#f2f2f2;border-left:6px solid #888}
.verdict.reproduced,.verdict.vulnerable{border-color:#c9302c;background:#fbeaea}.verdict.race-resolved{border-color:#8a6d3b;background:#fcf8e3}.verdict.not-reproduced,.verdict.not-vulnerable{border-color:#3c763d;background:#eef7ee}
.verdict.inconclusive{border-color:#8a6d3b;background:#fcf8e3}.verdict.invalid{border-color:#555;background:#eee}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right;vertical-align:top}
th[scope=row],thead th:first-child{text-align:left}thead th{background:#f6f6f6}
table.wide td,table.wide th{text-align:left}h2 a.anchor{color:inherit;text-decoration:none}h2 a.anchor:hover::after{content:" #";color:#999}
.remedy{border-left:6px solid #1f77b4;background:#eef4fa;padding:6px 14px 6px 32px}.present{color:#3c763d}.absent{color:#a94442}.uncertain,.unknown{color:#8a6d3b}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px}pre{background:#f6f6f6;padding:8px;overflow-x:auto;white-space:pre-wrap}
svg.chart{max-width:100%;height:auto;border:1px solid #eee}ul{margin:6px 0}.muted{color:#666;font-size:12px}
@media print{
body{margin:0;max-width:none;font-size:11px}
details>summary{list-style:none;font-weight:600}
details::details-content{content-visibility:visible;display:block}
details:not([open])>*{display:block}
svg.chart{width:100%;height:auto;page-break-inside:avoid;break-inside:avoid}
table,pre,.verdict{break-inside:avoid}h2{break-after:avoid}
pre{white-space:pre-wrap;overflow:visible}a.anchor{text-decoration:none}
}
`;

/**
 * What the scenario measures, per mode with its interval: the race for tcp-syn and dns, the double-SNAT share and
 * what it cost for vxlan. A metric equal to an earlier one in every mode is left out (stalls = lost = race is one
 * row, not three).
 */
export function chartMetrics(r: ReportModel['result']): string[] {
  const wanted = r.scenario === 'vxlan' ? ['double_snat', 'drops', 'lost'] : ['race', 'lost', 'stalls'];
  const key = (metric: string): string =>
    r.modes.map((m) => { const x = m.rates?.find((q) => q.metric === metric); return x ? `${x.count}/${x.attempts}` : '-'; }).join(' ');
  const seen = new Set<string>();
  return wanted.filter((metric) => {
    if (!r.modes.some((m) => m.rates?.some((q) => q.metric === metric))) return false;
    const k = key(metric);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function ratePoints(m: ReportModel): RatePoint[] {
  const metrics = chartMetrics(m.result);
  return metrics.flatMap((metric) => m.result.modes.flatMap((mode) =>
    (mode.rates ?? []).filter((r) => r.metric === metric)
      .map((r) => ({ mode: entryLabel(m.result, mode), metric: r.metric, per100k: r.per100k, lower: r.lower, upper: r.upper }))));
}

/** report.html: one self-contained file (inline CSS and SVG; no script, no network). */
export function renderHtmlModel(m: ReportModel): string {
  const r = m.result;
  const bands = [...new Set(r.modes.flatMap((x) => Object.keys(x.signatures)))];
  const fixHeader = ['change', 'race', 'here', 'basis', 'so this machine'];
  const fixRows = m.kernelFixes
    .map((f) => `<tr><th scope="row">${inline(f.change)}</th><td>${inline(f.race)}</td><td class="${f.status}">${esc(f.status)}</td><td>${inline(f.basis)}</td><td>${inline(f.meaning)}</td></tr>`)
    .join('\n');
  const notes = m.modeVerdicts.flatMap((v) => v.notes.map((n) => `<li>${esc(v.mode)}: ${inline(n)}</li>`));
  const noun = r.modes.every((x) => x.attribution.unit === 'lost-query') ? 'lookup' : 'connect';
  const ratesTitle = r.scenario === 'vxlan'
    ? 'double SNAT per 100 000 outer flows; drops and lost SYNs per 100 000 connects'
    : `${chartMetrics(r).join(', ')} per 100 000 attempts`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(m.title)}</title><style>${CSS}</style></head>
<body>
<h1>${esc(m.title)}</h1>
<p class="verdict ${esc(r.verdict)}" id="verdict"><strong>Verdict: ${inline(m.headline)}</strong></p>
${m.answerLines.length > 0 ? `<ul class="answers">${m.answerLines.map((l) => `<li>${inline(l)}</li>`).join('')}</ul>\n` : ''}<ul>${m.modeVerdicts.map((v) => `<li><strong>${esc(v.mode)}</strong>: ${esc(v.verdict)} — ${inline(v.reason)}</li>`).join('')}
${m.comparisonLines.map((l) => `<li>${inline(l)}</li>`).join('')}</ul>
${m.hostWarnings.length > 0 ? `<ul class="warnings">${m.hostWarnings.map((w) => `<li><strong>warning</strong>: ${inline(w)}</li>`).join('')}</ul>` : ''}
${m.remediation.length > 0 ? `${h2('what-to-do', 'What to do')}\n<ul class="remedy">${m.remediation.map((l) => `<li>${inline(l)}</li>`).join('')}</ul>` : ''}
${h2('latency', 'Latency distributions')}
<p class="muted">${esc(m.config)}. Successful ${noun}s only; failures (timeouts included) are counted in the table below. Shaded: the signature bands (${esc(bands.join(', ') || 'none')}).</p>
${latencyChart(r.modes.map((x) => ({ name: entryLabel(r, x), histogram: x.histogram })), bands, `${noun} latency by mode, run ${r.runId}`, `${noun} latency (log scale)`)}
${h2('modes', 'Modes side by side')}
${htmlTable(m.modes)}
${notes.length > 0 ? `<p>Notes:</p><ul>${notes.join('')}</ul>` : ''}
${h2('comparisons', 'Comparisons')}
<p class="muted">Each mode against the first: attempts that stalled, within one phase; the central exact conditional binomial test and its inversion, the Clopper-Pearson interval for the rate ratio (the vxlan double SNAT share: Fisher's exact test and the odds ratio).</p>
${m.comparisons.rows.length > 0 ? htmlTable(m.comparisons) : '<p>One mode only: nothing to compare.</p>'}
${ratesChart(ratePoints(m), r.modes.map((x) => entryLabel(r, x)), ratesTitle)}
${h2('counters', 'Kernel counters')}
${htmlTable(m.counters)}
<details><summary>All counter deltas</summary>${htmlTable(m.allCounters)}</details>
<details><summary>Rates per 100 000 attempts, every metric</summary>${htmlTable(m.rates)}</details>
${h2('environment', 'Environment')}
${htmlTable(m.environment)}
<p>What kernel ${esc(kernelVersionText(r.environment.kernelVersion))} can show (known conntrack/NAT changes):</p>
<table class="wide fixes"><thead><tr>${fixHeader.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${fixRows}</tbody></table>
<p class="muted">${inline(m.kernelCaveat)}</p>
<details><summary>conntrack sysctls</summary>${htmlTable(m.conntrackSysctls)}</details>
${h2('reproduce', 'Reproduce')}
<pre>${esc(m.command)}</pre>
${m.fullCommand ? `<details><summary>with every option spelled out</summary><pre>${esc(m.fullCommand)}</pre></details>` : ''}
<p class="muted">Signature bands: ${inline(r.signatureBands.description)}. repro/result@1, run ${esc(r.runId)}, ${esc(r.startedAt)} – ${esc(r.finishedAt)}.</p>
</body></html>
`;
}

export function renderHtml(r: ResultFile, scenarioRows?: ScenarioRows): string {
  return renderHtmlModel(buildReportModel(r, scenarioRows));
}
