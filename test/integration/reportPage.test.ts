/**
 * A default-shaped report.html (three modes x 150 000 connects, the eleven bands of a 6.5+ kernel's SYN schedule)
 * laid out by headless Chromium: the fixed points of issue 28's screenshot, checked on the browser's own boxes.
 * No root needed: the page is rendered from a synthetic result.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CHROMIUM, loadInChromium } from './headlessChromium.js';
import { renderHtml } from '../../src/report/html.js';
import { defaultShaped } from '../unit/fixtures/results.js';
import { underCi } from '../ci.js';

const ciSet = underCi();
if (!CHROMIUM && ciSet) throw new Error("the report page test needs Debian's chromium under CI (apt-get install chromium)");

const work = mkdtempSync(path.join(tmpdir(), 'repro-page-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Box { x: number; y: number; w: number; h: number; text?: string }
interface Probe {
  title: string;
  bodyText: string;
  bands: Box[];
  legend: Box[];
  bandLabels: Box[];
  wideHeaders: string[];
}

describe.skipIf(!CHROMIUM)('report.html in headless Chromium', () => {
  it('shows no literal backtick, the verdict in the title, no legend over a band, band labels apart', async () => {
    const file = path.join(work, 'repro-tcp-syn-a1b2c3.html');
    writeFileSync(file, renderHtml(defaultShaped()));
    const page = await loadInChromium(file, `
      const box = (e) => { const b = e.getBoundingClientRect(); return { x: b.x, y: b.y, w: b.width, h: b.height, text: e.textContent }; };
      const chart = document.querySelector('svg.chart.latency');
      return {
        title: document.title,
        bodyText: document.body.innerText,
        bands: [...chart.querySelectorAll('rect.band')].map(box),
        legend: [...chart.querySelectorAll('g.legend-item')].map(box),
        bandLabels: [...chart.querySelectorAll('text.band-label')].map(box),
        wideHeaders: [...document.querySelectorAll('table.wide thead th')].map((th) => getComputedStyle(th).textAlign),
      };`);
    expect(page.errors).toEqual([]);
    const p = page.probe as Probe;
    expect(p.title).toMatch(/^REPRODUCED · repro tcp-syn · run a1b2c3/);
    expect(p.bodyText).not.toContain('`');
    expect(p.bodyText).toContain('MASQUERADE without a flag');
    expect(p.bands).toHaveLength(11);
    expect(p.legend).toHaveLength(3);
    const overlaps = (a: Box, b: Box): boolean => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
    for (const l of p.legend) for (const b of p.bands) expect(overlaps(l, b), `legend ${l.text} over a band`).toBe(false);
    // Labels drawn do not touch each other ("4s5s"); each sits over its band.
    expect(p.bandLabels.length).toBeGreaterThanOrEqual(5);
    for (let i = 0; i < p.bandLabels.length; i++) {
      for (let j = i + 1; j < p.bandLabels.length; j++) {
        expect(overlaps(p.bandLabels[i]!, p.bandLabels[j]!), `${p.bandLabels[i]!.text} touches ${p.bandLabels[j]!.text}`).toBe(false);
      }
    }
    expect(p.wideHeaders.length).toBeGreaterThan(0);
    for (const a of p.wideHeaders) expect(a).toBe('left');
  }, 60_000);

  it('prints folded parts open: the print styles make a closed <details> show its table', async () => {
    const html = renderHtml(defaultShaped());
    const probe = `return [...document.querySelectorAll('details')].map((d) => !d.open && d.querySelector('table,pre').checkVisibility({ contentVisibilityAuto: true }));`;
    const screen = path.join(work, 'screen.html');
    writeFileSync(screen, html);
    // The same page with its print rules applied on screen: what a printer (or Save as PDF) lays out.
    const print = path.join(work, 'print.html');
    writeFileSync(print, html.replace('@media print{', '@media all{'));
    expect(html).toContain('@media print{');
    const folded = (await loadInChromium(screen, probe)).probe as boolean[];
    const printed = (await loadInChromium(print, probe)).probe as boolean[];
    expect(folded.length).toBeGreaterThanOrEqual(3);
    expect(folded.every((v) => !v)).toBe(true);
    expect(printed).toEqual(folded.map(() => true));
  }, 60_000);
});
