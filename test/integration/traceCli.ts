import { spawn } from 'node:child_process';
import http from 'node:http';
import { CLI } from './cli.js';
import type { TraceRecord } from '../../src/node/trace/records.js';

/** `repro trace --json` on one namespace, once it says it is tracing; stop() ends it by SIGINT and returns its records. */
export async function startTrace(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(process.execPath, [CLI, 'trace', '--json', '--interval', '1', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`trace did not start: ${stderr}`)), 30_000);
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (/^tracing conntrack drops on /m.test(stderr)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('close', () => reject(new Error(`trace exited: ${stderr}`)));
  });
  return {
    pid: child.pid,
    get stderr() {
      return stderr;
    },
    async stop(): Promise<{ code: number | null; records: TraceRecord[]; stderr: string }> {
      child.kill('SIGINT');
      const code = await closed;
      const records = stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as TraceRecord);
      return { code, records, stderr };
    },
  };
}


/** GET a URL, its body. */
export function scrape(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}
