/**
 * Charts as inline SVG strings, generated here (no browser, no native code, no network): the latency
 * distribution of every mode on a log time axis with the retransmit/timeout signature bands marked, and the
 * event rates per mode with their 95 % intervals.
 */
import { decodeHistogram, recordedValues } from '../histogram.js';
import { niceTicks, num } from './format.js';

/**
 * One colour per mode, by its place in the run. No red and no green: those read as "reproduced" and "fixed", and a
 * mode's colour says nothing about its verdict (the bands are the chart's only reddish marks).
 */
export const MODE_COLORS = ['#1f77b4', '#ff7f0e', '#9467bd', '#17becf', '#393b79', '#e377c2', '#7f7f7f', '#bcbd22'];

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export interface LatencySeries {
  name: string;
  /** hdr-histogram compressed base64, microseconds. */
  histogram: string;
}

/** Bins per decade of the log time axis. */
const BINS_PER_DECADE = 10;

/** Pure: counts per log-spaced bin (bin b covers [10^(b/k), 10^((b+1)/k)) µs). */
export function logBins(encoded: string): Map<number, number> {
  const h = decodeHistogram(encoded);
  try {
    const bins = new Map<number, number>();
    for (const { valueUs, count } of recordedValues(h)) {
      const b = Math.floor(Math.log10(Math.max(1, valueUs)) * BINS_PER_DECADE);
      bins.set(b, (bins.get(b) ?? 0) + count);
    }
    return bins;
  } finally {
    h.destroy();
  }
}

/** "1s" -> 1000, "10s" -> 10000, "500ms" -> 500; null for other names. */
export function bandMs(name: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(name);
  if (!m) return null;
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

const W = 860;
const H = 380;
// top: two rows of band labels; bottom: tick labels, the axis title, then the legend (never over the bands).
const PAD = { left: 64, right: 16, top: 40, bottom: 84 };
/** Width of a label at font-size 12 in a proportional font, generously (for collision checks only). */
const labelWidth = (t: string): number => t.length * 7.5 + 4;

/**
 * Band labels in at most two rows: a label goes on the first row where it clears its left neighbour, and is left
 * out (the band's tooltip still names it) when it clears neither: "4s" and "5s" never print as "4s5s".
 */
export function placeBandLabels(bands: readonly { name: string; x: number }[]): { name: string; x: number; row: 0 | 1 }[] {
  const rowEnd = [-Infinity, -Infinity];
  const out: { name: string; x: number; row: 0 | 1 }[] = [];
  for (const b of [...bands].sort((a, c) => a.x - c.x)) {
    const half = labelWidth(b.name) / 2;
    const row = rowEnd.findIndex((end) => b.x - half >= end + 3);
    if (row !== 0 && row !== 1) continue;
    rowEnd[row] = b.x + half;
    out.push({ ...b, row });
  }
  return out;
}

/**
 * Latency distribution: one step line per mode, attempts per bin on a log count axis, time on a log axis from
 * 100 µs to past the slowest band; the signature bands (1 s, 3 s, 7 s ... or 5 s, 10 s) as shaded columns.
 */
export function latencyChart(series: readonly LatencySeries[], bandNames: readonly string[], title: string, axisTitle = 'connect latency (log scale)'): string {
  const binned = series.map((s) => ({ name: s.name, bins: logBins(s.histogram) }));
  const bands = bandNames.map((n) => ({ name: n, ms: bandMs(n) })).filter((b): b is { name: string; ms: number } => b.ms !== null);
  const allBins = binned.flatMap((s) => [...s.bins.keys()]);
  const maxBandUs = Math.max(0, ...bands.map((b) => b.ms * 1000));
  const minExp = 2; // 100 µs
  const maxExp = Math.max(4, Math.ceil(Math.log10(Math.max(maxBandUs * 1.3, 10 ** ((Math.max(0, ...allBins) + 1) / BINS_PER_DECADE)))));
  const maxCount = Math.max(1, ...binned.flatMap((s) => [...s.bins.values()]));
  const countDecades = Math.max(1, Math.ceil(Math.log10(maxCount + 1)));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const x = (us: number): number => PAD.left + ((Math.log10(Math.max(us, 10 ** minExp)) - minExp) / (maxExp - minExp)) * plotW;
  // log10(count + 1) keeps a single stall (count 1) visibly above zero.
  const y = (count: number): number => PAD.top + plotH - (Math.log10(count + 1) / countDecades) * plotH;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="chart latency" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeXml(title)}">`);
  parts.push(`<title>${escapeXml(title)}</title>`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  const bandBoxes = bands.map((b) => ({ name: b.name, x0: x(b.ms * 1000 * 0.98), x1: x(b.ms * 1000 * 1.1) }));
  for (const b of bandBoxes) {
    parts.push(`<rect class="band" x="${b.x0.toFixed(1)}" y="${PAD.top}" width="${Math.max(2, b.x1 - b.x0).toFixed(1)}" height="${plotH}" fill="#f5c6cb" opacity="0.6"><title>${escapeXml(b.name)} signature band</title></rect>`);
  }
  for (const l of placeBandLabels(bandBoxes.map((b) => ({ name: b.name, x: (b.x0 + b.x1) / 2 })))) {
    parts.push(`<text class="band-label" x="${l.x.toFixed(1)}" y="${PAD.top - 6 - l.row * 14}" font-size="12" text-anchor="middle" fill="#a94442">${escapeXml(l.name)}</text>`);
  }
  // Axes and grid.
  for (let e = minExp; e <= maxExp; e++) {
    const xv = x(10 ** e);
    const label = e < 6 ? `${10 ** (e - 3)} ms` : `${10 ** (e - 6)} s`;
    parts.push(`<line x1="${xv.toFixed(1)}" y1="${PAD.top}" x2="${xv.toFixed(1)}" y2="${PAD.top + plotH}" stroke="#ddd"/>`);
    parts.push(`<text x="${xv.toFixed(1)}" y="${PAD.top + plotH + 16}" font-size="11" text-anchor="middle">${label}</text>`);
  }
  for (const c of [0, ...Array.from({ length: countDecades }, (_, d) => 10 ** d)]) {
    const yv = y(c);
    parts.push(`<line x1="${PAD.left}" y1="${yv.toFixed(1)}" x2="${W - PAD.right}" y2="${yv.toFixed(1)}" stroke="#eee"/>`);
    parts.push(`<text x="${PAD.left - 6}" y="${(yv + 4).toFixed(1)}" font-size="11" text-anchor="end">${num(c)}</text>`);
  }
  parts.push(`<line x1="${PAD.left}" y1="${PAD.top + plotH}" x2="${W - PAD.right}" y2="${PAD.top + plotH}" stroke="#333"/>`);
  parts.push(`<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${PAD.top + plotH}" stroke="#333"/>`);
  parts.push(`<text x="${PAD.left + plotW / 2}" y="${PAD.top + plotH + 34}" font-size="12" text-anchor="middle">${escapeXml(axisTitle)}</text>`);
  parts.push(`<text transform="translate(14 ${PAD.top + plotH / 2}) rotate(-90)" font-size="12" text-anchor="middle">attempts per bin (log)</text>`);
  let legendX = 0;
  binned.forEach((s, i) => {
    const color = MODE_COLORS[i % MODE_COLORS.length] ?? '#000';
    const keys = [...s.bins.keys()].sort((a, b) => a - b);
    if (keys.length === 0) return;
    const pts: string[] = [];
    const first = keys[0] ?? 0;
    const last = keys[keys.length - 1] ?? 0;
    for (let b = first; b <= last; b++) {
      const c = s.bins.get(b) ?? 0;
      const x0 = x(10 ** (b / BINS_PER_DECADE));
      const x1 = x(10 ** ((b + 1) / BINS_PER_DECADE));
      pts.push(`${x0.toFixed(1)},${y(c).toFixed(1)}`, `${x1.toFixed(1)},${y(c).toFixed(1)}`);
    }
    const base = y(0).toFixed(1);
    const firstX = x(10 ** (first / BINS_PER_DECADE)).toFixed(1);
    const lastX = x(10 ** ((last + 1) / BINS_PER_DECADE)).toFixed(1);
    parts.push(
      `<polyline class="series" data-mode="${escapeXml(s.name)}" fill="none" stroke="${color}" stroke-width="1.6" points="${firstX},${base} ${pts.join(' ')} ${lastX},${base}"/>`,
    );
    // Rare slow attempts are the signal: mark every non-empty bin beyond 200 ms with a dot.
    for (const b of keys) {
      if (10 ** (b / BINS_PER_DECADE) < 200_000) continue;
      const c = s.bins.get(b) ?? 0;
      const cx = x(10 ** ((b + 0.5) / BINS_PER_DECADE));
      parts.push(`<circle cx="${cx.toFixed(1)}" cy="${y(c).toFixed(1)}" r="3.5" fill="${color}"><title>${escapeXml(s.name)}: ${c} attempts in ${num(10 ** (b / BINS_PER_DECADE) / 1000)}–${num(10 ** ((b + 1) / BINS_PER_DECADE) / 1000)} ms</title></circle>`);
    }
    // The legend: one row under the axis title, outside the plot.
    const lx = PAD.left + legendX;
    const ly = PAD.top + plotH + 50;
    parts.push(`<g class="legend-item"><rect x="${lx.toFixed(1)}" y="${ly}" width="12" height="12" fill="${color}"/><text x="${(lx + 18).toFixed(1)}" y="${ly + 10}" font-size="12">${escapeXml(s.name)}</text></g>`);
    legendX += 18 + labelWidth(s.name) + 16;
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export interface RatePoint {
  mode: string;
  metric: string;
  per100k: number;
  lower: number;
  upper: number;
}

/** Rates per 100 000 attempts with 95 % interval whiskers: one group per metric, one point per mode. */
export function ratesChart(points: readonly RatePoint[], modes: readonly string[], title: string): string {
  const metrics = [...new Set(points.map((p) => p.metric))];
  const rw = 860;
  const rh = 60 + metrics.length * modes.length * 22 + metrics.length * 14;
  const left = 190;
  const right = 30;
  const finite = points.map((p) => p.upper).filter((u) => Number.isFinite(u) && u < Number.MAX_VALUE);
  const ticks = niceTicks(Math.max(1, ...finite));
  const maxV = ticks[ticks.length - 1] ?? 1;
  const x = (v: number): number => left + (Math.min(v, maxV) / maxV) * (rw - left - right);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="chart rates" viewBox="0 0 ${rw} ${rh}" width="${rw}" height="${rh}" role="img" aria-label="${escapeXml(title)}">`);
  parts.push(`<title>${escapeXml(title)}</title><rect x="0" y="0" width="${rw}" height="${rh}" fill="#fff"/>`);
  for (const v of ticks) {
    parts.push(`<line x1="${x(v).toFixed(1)}" y1="20" x2="${x(v).toFixed(1)}" y2="${rh - 30}" stroke="#eee"/>`);
    parts.push(`<text x="${x(v).toFixed(1)}" y="${rh - 14}" font-size="11" text-anchor="middle">${num(v)}</text>`);
  }
  parts.push(`<text x="${(left + rw - right) / 2}" y="14" font-size="12" text-anchor="middle">per 100 000 attempts (point and exact 95 % interval)</text>`);
  let row = 0;
  metrics.forEach((metric, mi) => {
    modes.forEach((mode, i) => {
      const p = points.find((q) => q.metric === metric && q.mode === mode);
      const yv = 34 + row * 22 + mi * 14;
      row++;
      if (!p) return;
      const color = MODE_COLORS[i % MODE_COLORS.length] ?? '#000';
      parts.push(`<text x="${left - 8}" y="${yv + 4}" font-size="12" text-anchor="end">${escapeXml(`${metric} · ${mode}`)}</text>`);
      parts.push(`<line class="interval" x1="${x(p.lower).toFixed(1)}" y1="${yv}" x2="${x(p.upper).toFixed(1)}" y2="${yv}" stroke="${color}" stroke-width="2"/>`);
      for (const v of [p.lower, p.upper]) parts.push(`<line x1="${x(v).toFixed(1)}" y1="${yv - 5}" x2="${x(v).toFixed(1)}" y2="${yv + 5}" stroke="${color}" stroke-width="2"/>`);
      parts.push(`<circle class="point" cx="${x(p.per100k).toFixed(1)}" cy="${yv}" r="4.5" fill="${color}"><title>${escapeXml(`${mode} ${metric}: ${num(p.per100k)} per 100k (${num(p.lower)}–${num(p.upper)})`)}</title></circle>`);
    });
  });
  parts.push('</svg>');
  return parts.join('\n');
}
