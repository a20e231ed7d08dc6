/**
 * `npm run build`'s last step: compile the native connect engine (connectEngine.c, a Node-API addon) with the
 * node-gyp that npm ships, and put it next to the compiled agents (dist/native/connect_engine.node).
 * A machine without make or a C compiler still gets a working harness: the step says why it was skipped and
 * the TCP client agents connect through libuv handles instead (slower; `repro doctor` and every result say so).
 * REPRO_REQUIRE_NATIVE=1 turns a failed build into a failed `npm run build`.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const source = fileURLToPath(new URL('../../src/native', import.meta.url));
const target = fileURLToPath(new URL('./connect_engine.node', import.meta.url));
const gyp = process.env['npm_config_node_gyp'];
const args = gyp ? [gyp, 'rebuild', '--directory', source] : null;

function give(reason: string): void {
  const required = process.env['REPRO_REQUIRE_NATIVE'] === '1';
  process.stderr.write(`${required ? 'error' : 'warning'}: native connect engine not built: ${reason}\n`);
  if (required) process.exitCode = 1;
}

if (!args) {
  give('not run through npm (npm run build provides node-gyp)');
} else {
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) {
    const last = (r.stderr ?? '').trim().split('\n').filter((l) => !l.startsWith('gyp info')).slice(-3).join(' | ');
    give(`node-gyp exited ${r.status ?? r.signal}: ${last}`);
  } else {
    mkdirSync(path.dirname(target), { recursive: true });
    copyFileSync(path.join(source, 'build', 'Release', 'connect_engine.node'), target);
  }
}
