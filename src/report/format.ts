/** Number formatting shared by every rendering (terminal, Markdown, HTML, diff). */

export function fmtMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(0)} ms`;
  return `${ms.toFixed(2)} ms`;
}

export function int(n: number): string {
  return n.toLocaleString('en-US');
}

/** A counter delta: "+3", "0", or "-" when the counter does not exist. */
export function delta(n: number | undefined): string {
  return n === undefined ? '-' : n === 0 ? '0' : n > 0 ? `+${int(n)}` : int(n);
}

/** A rate per 100 000 with its interval: "5 (1.03–14.6)". */
export function fmtRate(r: { per100k: number; lower: number; upper: number }): string {
  return `${num(r.per100k)} (${num(r.lower)}–${num(r.upper)})`;
}

/** Up to three significant digits, no exponent for everyday sizes. */
export function num(x: number): string {
  if (x === 0) return '0';
  if (!Number.isFinite(x) || x >= Number.MAX_VALUE) return '∞';
  const a = Math.abs(x);
  if (a >= 1000) return int(Math.round(x));
  return String(Number(x.toPrecision(3)));
}

/**
 * A p-value with four significant digits, as the comparisons' own reasons print it (so a table never shows 0.002
 * beside a sentence's 0.001953). Below what a double can hold it is "< 1e-300", never "0".
 */
export function fmtP(p: number): string {
  if (!(p > 1e-300)) return '< 1e-300';
  return String(Number(p.toPrecision(4)));
}

/** "p = 0.001953" or "p < 1e-300": a p-value inside a sentence. */
export function pClause(p: number): string {
  const v = fmtP(p);
  return v.startsWith('<') ? `p ${v}` : `p = ${v}`;
}

/**
 * Counts written bare inside the analysis' sentences ("in 150000 attempts") grouped as the tables group them
 * ("150,000"). Only plain counts: not a port after ':', a sequence number after "seq ", a range ("40000-40199"),
 * a decimal or an identifier.
 */
export function groupCounts(text: string): string {
  return text.replace(/(?<![\w.:,/+-]|seq )(\d{5,})(?![\w.,-]|:\d)/g, (d) => int(Number(d)));
}

/** Axis ticks at 1, 2 or 5 times a power of ten, covering [0, max]; never fewer than two. */
export function niceTicks(max: number, target = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].map((k) => k * mag).find((s) => s >= raw) ?? 10 * mag);
  const out: number[] = [];
  for (let v = 0; v < max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  if ((out[out.length - 1] ?? 0) < max) out.push(Number((out.length * step).toPrecision(12)));
  return out;
}
