/**
 * The matrix's report: Markdown and a self-contained HTML page with an SVG chart (race rate by kernel and mode, log
 * scale, the 95 % interval as a whisker). Its own small renderer: the per-run reports stay in src/report/.
 */
import type { MatrixKernel, MatrixRate, MatrixResult } from './model.js';

const n = (x: number): string => x.toLocaleString('en-US', { maximumFractionDigits: x < 10 ? 2 : x < 100 ? 1 : 0 });
const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** Markdown table cells: no pipe or newline from a result reaches the table's structure. */
const md = (s: string): string => s.replace(/[|\\]/g, (c) => `\\${c}`).replace(/[\r\n]+/g, ' ');

export function rateText(r: MatrixRate | null): string {
  return r === null ? '—' : `${n(r.per100k)} [${n(r.lower)}–${n(r.upper)}] (${r.count}/${r.attempts})`;
}

function clashText(clashres: number | null, insertFailed: number | null): string {
  const c = clashres === null ? 'no clashres counter' : `${clashres} resolved`;
  const d = insertFailed === null ? 'no insert_failed counter' : `${insertFailed} dropped`;
  return `${c}, ${d}`;
}

function factsLines(k: MatrixKernel): string[] {
  const f = k.facts;
  return [
    `uname -r ${f.release ?? '?'}${f.kernelPackage ? `, package ${f.kernelPackage.name} ${f.kernelPackage.version}` : ''}`,
    `tcp_syn_linear_timeouts: ${f.synLinearTimeouts === null ? 'absent (exponential SYN backoff from the first retransmit)' : f.synLinearTimeouts}`,
    `conntrack clashres counter: ${f.clashresCounter === null ? '?' : f.clashresCounter ? 'present' : 'absent'}`,
    `SYN schedule: ${f.synSchedule ?? '(no tcp-syn result)'}`,
    `known fixes: carries ${k.fixes.present.join(', ') || 'none'}; lacks ${k.fixes.absent.join(', ') || 'none'}${k.fixes.uncertain.length ? `; uncertain ${k.fixes.uncertain.join(', ')}` : ''}`,
    `ran on: ${f.ranOn}`,
    `wall time: ${n(k.wallSec)} s`,
  ];
}

/** Pure: report.md of a matrix. */
export function matrixMarkdown(r: MatrixResult): string {
  const out = [`# Kernel matrix`, '', `\`${md(r.command)}\``, '', `${r.startedAt} – ${r.finishedAt}${r.interrupted ? ' (interrupted: partial)' : ''}`, ''];
  out.push('Race rate per 100 000 attempts with its exact 95 % interval (race drops / attempts); UDP clashes the kernel resolved (clashres) or dropped (insert_failed) over the mode.', '');
  out.push('| kernel | scenario | mode | race per 100 000 [95 %] | clashes | verdict |', '| --- | --- | --- | --- | --- | --- |');
  for (const k of r.kernels) {
    for (const c of k.cells) {
      if (c.modes.length === 0) out.push(`| ${md(k.label)} | ${md(c.scenarioLabel)} | — | — | — | ${md(c.error ?? 'no result')} |`);
      for (const m of c.modes) {
        out.push(`| ${md(k.label)} | ${md(c.scenarioLabel)} | ${md(m.mode)} | ${rateText(m.race)} | ${clashText(m.clashres, m.insertFailed)} | ${md(m.verdict)} |`);
      }
    }
  }
  out.push('');
  for (const k of r.kernels) {
    out.push(`## ${md(k.label)}`, '', ...factsLines(k).map((l) => `- ${md(l)}`));
    for (const c of k.cells) {
      out.push(`- ${md(c.scenarioLabel)}: \`${md(c.dir)}\`, ${n(c.wallSec)} s, exit ${c.exitCode ?? 'none'}${c.error ? ` — ${md(c.error)}` : ''}${c.thresholdsOk === undefined ? '' : c.thresholdsOk ? ', thresholds hold' : ', a threshold fails'}`);
      for (const m of c.modes) if (/^Stopped at --duration/.test(m.reason)) out.push(`  - ${md(m.mode)}: ${md(m.reason)}`);
    }
    out.push('');
  }
  out.push('Compare two kernels\' runs with `repro diff <kernel>/<scenario> <kernel>/<scenario>` in this directory.', '');
  return out.join('\n');
}

/** Pure: the chart: one group per kernel, one bar per scenario and mode, log scale from 1 to 100 000 per 100 000. */
export function matrixChartSvg(r: MatrixResult): string {
  const series = [...new Set(r.kernels.flatMap((k) => k.cells.flatMap((c) => c.modes.map((m) => `${c.scenarioLabel} · ${m.mode}`))))];
  const colors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  const barW = 14;
  const groupW = Math.max(60, series.length * barW + 20);
  const left = 60;
  const top = 20;
  const h = 240;
  const width = left + r.kernels.length * groupW + 20;
  const legendH = 16 * series.length + 10;
  const height = top + h + 40 + legendH;
  const maxExp = 5;
  const y = (v: number): number => top + h - (Math.log10(Math.max(1, Math.min(v, 10 ** maxExp))) / maxExp) * h;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11" role="img" aria-label="race rate per 100 000 by kernel and mode, log scale">`];
  for (let e = 0; e <= maxExp; e++) {
    const yy = y(10 ** e);
    parts.push(`<line x1="${left}" x2="${width - 10}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`, `<text x="${left - 6}" y="${yy + 4}" text-anchor="end">${n(10 ** e)}</text>`);
  }
  parts.push(`<text x="12" y="${top + h / 2}" transform="rotate(-90 12 ${top + h / 2})" text-anchor="middle">race per 100 000 (log)</text>`);
  r.kernels.forEach((k, ki) => {
    const x0 = left + ki * groupW + 10;
    parts.push(`<text x="${x0 + (series.length * barW) / 2}" y="${top + h + 16}" text-anchor="middle">${esc(k.label)}</text>`);
    for (const c of k.cells) {
      for (const m of c.modes) {
        const si = series.indexOf(`${c.scenarioLabel} · ${m.mode}`);
        const x = x0 + si * barW;
        const color = colors[si % colors.length] ?? '#333';
        if (m.race === null) continue;
        const title = `<title>${esc(`${k.label} ${c.scenarioLabel} ${m.mode}: ${rateText(m.race)}`)}</title>`;
        if (m.race.per100k > 0) {
          parts.push(`<rect x="${x}" y="${y(m.race.per100k)}" width="${barW - 3}" height="${top + h - y(m.race.per100k)}" fill="${color}">${title}</rect>`);
        } else {
          parts.push(`<text x="${x + (barW - 3) / 2}" y="${top + h - 3}" text-anchor="middle" fill="${color}">0${title}</text>`);
        }
        const cx = x + (barW - 3) / 2;
        parts.push(`<line x1="${cx}" x2="${cx}" y1="${y(m.race.upper)}" y2="${y(Math.max(1, m.race.lower))}" stroke="#000"/>`);
      }
    }
  });
  series.forEach((s, si) => {
    const yy = top + h + 36 + si * 16;
    parts.push(`<rect x="${left}" y="${yy - 9}" width="10" height="10" fill="${colors[si % colors.length] ?? '#333'}"/>`, `<text x="${left + 16}" y="${yy}">${esc(s)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Pure: report.html of a matrix: the chart, the table, each kernel's facts. */
export function matrixHtml(r: MatrixResult): string {
  const rows = r.kernels.flatMap((k) =>
    k.cells.flatMap((c) =>
      c.modes.length === 0
        ? [`<tr><td>${esc(k.label)}</td><td>${esc(c.scenarioLabel)}</td><td colspan="4">${esc(c.error ?? 'no result')}</td></tr>`]
        : c.modes.map((m) => `<tr><td>${esc(k.label)}</td><td>${esc(c.scenarioLabel)}</td><td>${esc(m.mode)}</td><td>${esc(rateText(m.race))}</td><td>${esc(clashText(m.clashres, m.insertFailed))}</td><td>${esc(m.verdict)}</td></tr>`),
    ),
  );
  const kernels = r.kernels.map((k) => `<h2>${esc(k.label)}</h2><ul>${factsLines(k).map((l) => `<li>${esc(l)}</li>`).join('')}</ul>`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>repro kernel matrix</title>
<style>body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}</style>
</head><body>
<h1>Kernel matrix</h1>
<p><code>${esc(r.command)}</code><br>${esc(r.startedAt)} – ${esc(r.finishedAt)}${r.interrupted ? ' (interrupted: partial)' : ''}</p>
<figure>${matrixChartSvg(r)}<figcaption>Race drops per 100 000 attempts by kernel, scenario and mode (log scale; whiskers: exact 95 % interval; 0: none seen).</figcaption></figure>
<table><thead><tr><th>kernel</th><th>scenario</th><th>mode</th><th>race per 100 000 [95 %]</th><th>clashes</th><th>verdict</th></tr></thead><tbody>
${rows.join('\n')}
</tbody></table>
${kernels.join('\n')}
</body></html>
`;
}
