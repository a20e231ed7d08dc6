import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { WebSocket } from 'undici';

/** Debian's headless Chromium (package `chromium`), driven over the DevTools protocol. */
export const CHROMIUM = ['chromium', 'chromium-browser'].find((c) => spawnSync(c, ['--version'], { encoding: 'utf8' }).status === 0) ?? null;

export interface PageLoad {
  /** Uncaught exceptions, console errors and browser log errors seen while the page loaded. */
  errors: string[];
  /** Whatever `probe` (a JS expression evaluated in the page after load) returned. */
  probe: unknown;
}

interface CdpMessage {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
}

function waitForDevtoolsUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`chromium gave no DevTools URL: ${text}`)), 20_000);
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      text += d;
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(text);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`chromium exited (${code}): ${text}`)));
  });
}

/** Load a local HTML file in headless Chromium; collect errors; evaluate `probe` once the load event fired. */
export async function loadInChromium(file: string, probe: string): Promise<PageLoad> {
  if (!CHROMIUM) throw new Error('chromium is not installed');
  const profile = mkdtempSync(path.join(tmpdir(), 'repro-chromium-'));
  const child = spawn(CHROMIUM, [
    '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--no-default-browser-check',
    '--remote-debugging-port=0', `--user-data-dir=${profile}`, 'about:blank',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    const browserUrl = await waitForDevtoolsUrl(child);
    const port = new URL(browserUrl).port;
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { type: string; webSocketDebuggerUrl: string }[];
    const page = targets.find((t) => t.type === 'page');
    if (!page) throw new Error('no page target');
    const ws = new WebSocket(page.webSocketDebuggerUrl);
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve());
      ws.addEventListener('error', () => reject(new Error('DevTools websocket failed')));
    });
    const errors: string[] = [];
    const pending = new Map<number, (m: CdpMessage) => void>();
    let loaded: () => void = () => undefined;
    const loadEvent = new Promise<void>((r) => (loaded = r));
    ws.addEventListener('message', (ev) => {
      const m = JSON.parse(String(ev.data)) as CdpMessage;
      if (m.id !== undefined) pending.get(m.id)?.(m);
      else if (m.method === 'Page.loadEventFired') loaded();
      else if (m.method === 'Runtime.exceptionThrown') errors.push(`exception: ${JSON.stringify(m.params?.['exceptionDetails'])}`);
      else if (m.method === 'Runtime.consoleAPICalled' && (m.params?.['type'] === 'error' || m.params?.['type'] === 'assert')) errors.push(`console: ${JSON.stringify(m.params?.['args'])}`);
      else if (m.method === 'Log.entryAdded') {
        const entry = m.params?.['entry'] as { level?: string; text?: string; url?: string } | undefined;
        if (entry?.level === 'error') errors.push(`log: ${entry.text ?? ''} ${entry.url ?? ''}`);
      }
    });
    let nextId = 1;
    const send = (method: string, params: Record<string, unknown> = {}): Promise<CdpMessage> =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => reject(new Error(`${method}: no answer`)), 20_000);
        pending.set(id, (m) => {
          clearTimeout(timer);
          if (m.error) reject(new Error(`${method}: ${m.error.message}`));
          else resolve(m);
        });
        ws.send(JSON.stringify({ id, method, params }));
      });
    await send('Page.enable');
    await send('Runtime.enable');
    await send('Log.enable');
    await send('Page.navigate', { url: pathToFileURL(path.resolve(file)).href });
    await Promise.race([loadEvent, new Promise((_, reject) => setTimeout(() => reject(new Error('page did not load')), 20_000))]);
    const r = await send('Runtime.evaluate', { expression: `JSON.stringify((() => { ${probe} })())`, returnByValue: true });
    const value = (r.result?.['result'] as { value?: string } | undefined)?.value;
    ws.close();
    return { errors, probe: value === undefined ? undefined : (JSON.parse(value) as unknown) };
  } finally {
    const exited = new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    child.kill('SIGKILL');
    await exited;
    rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  }
}
