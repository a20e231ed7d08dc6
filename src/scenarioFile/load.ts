import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { LineCounter, isMap, isPair, isScalar, parseDocument, type Document, type Node } from 'yaml';
import { UserError, errorMessage } from '../errors.js';
import { readWholeInRoot } from '../host/safeRead.js';
import { SCENARIO_SPECS, RESERVED_OPTIONS } from './specs.js';
import { parseModeKey, parseThreshold, PHASE_KEYS, type Threshold } from './thresholds.js';
import type { BackendName, ScenarioName } from '../types.js';

/** scenarios/schema.json: the file format, also usable by editors (yaml-language-server, VS Code). */
export const SCHEMA_URL = new URL('../../scenarios/schema.json', import.meta.url);

export interface ScenarioRun {
  name: string;
  description?: string;
  scenario: ScenarioName;
  backend: BackendName | 'auto';
  /** Run inside a VM on this kernel (--kernel), or null: on the host's own. */
  kernel: string | null;
  /** As written, or null for the scenario's default modes. */
  modes: string[] | null;
  options: Record<string, string | number | boolean>;
  /** The mode names the result will carry (from the scenario's own validation). */
  expectedModes: string[];
  /** Mode name, or "*" for every mode -> thresholds. */
  thresholds: Record<string, Threshold[]>;
}

export interface ScenarioFile {
  name: string;
  description?: string;
  runs: ScenarioRun[];
}

/** One problem in a scenario file, at its place. */
export interface FileProblem {
  line: number;
  col: number;
  /** Where in the document, e.g. runs[0].thresholds.none[1]. */
  path: string;
  message: string;
}

export class ScenarioFileError extends UserError {
  constructor(readonly file: string, readonly problems: FileProblem[]) {
    super(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}: ` + problems.map((p) => `${file}:${p.line}:${p.col}: ${p.path ? `${p.path}: ` : ''}${p.message}`).join('; '));
    this.name = 'ScenarioFileError';
  }
}

type Path = (string | number)[];

function pathText(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** Place of a path in the document: the key's own position when `atKey`, else the value's. */
function locate(doc: Document, lc: LineCounter, path: Path, atKey = false): { line: number; col: number } {
  let node: unknown = doc.contents;
  let offset = (doc.contents as Node | null)?.range?.[0] ?? 0;
  for (const [i, seg] of path.entries()) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      const last = i === path.length - 1;
      const keyNode = pair.key as Node;
      node = pair.value;
      offset = (last && atKey ? keyNode.range?.[0] : (pair.value as Node | null)?.range?.[0] ?? keyNode.range?.[0]) ?? offset;
    } else if (node && typeof node === 'object' && 'items' in node && Array.isArray((node as { items: unknown[] }).items)) {
      const item = (node as { items: unknown[] }).items[Number(seg)];
      if (!item) break;
      node = item;
      offset = (item as Node).range?.[0] ?? offset;
    } else break;
  }
  return lc.linePos(offset);
}

function schemaProblems(errors: readonly ErrorObject[]): { path: Path; atKey: boolean; message: string }[] {
  return errors.map((e) => {
    const path: Path = e.instancePath
      .split('/')
      .slice(1)
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
      .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
    if (e.keyword === 'additionalProperties') {
      const extra = String((e.params as { additionalProperty: string }).additionalProperty);
      return { path: [...path, extra], atKey: true, message: `unknown property "${extra}"` };
    }
    if (e.keyword === 'enum') {
      return { path, atKey: false, message: `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map(String).join(', ')}` };
    }
    if (e.keyword === 'required') {
      return { path, atKey: false, message: `missing "${(e.params as { missingProperty: string }).missingProperty}"` };
    }
    return { path, atKey: false, message: e.message ?? e.keyword };
  });
}

let compiled: ReturnType<Ajv['compile']> | null = null;
function validator(): ReturnType<Ajv['compile']> {
  if (!compiled) {
    const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
    compiled = ajv.compile(JSON.parse(readFileSync(SCHEMA_URL, 'utf8')) as object);
  }
  return compiled;
}

interface RawRun {
  name: string;
  description?: string;
  scenario: ScenarioName;
  backend?: BackendName | 'auto';
  kernel?: string;
  modes?: string[];
  options?: Record<string, string | number | boolean>;
  thresholds?: Record<string, string[]>;
}

/**
 * Pure (given the text): parse YAML or JSON, validate against scenarios/schema.json, then check what the schema
 * cannot: option names and values (by the scenario's own validation), unique run names, threshold expressions,
 * threshold modes. Every problem is reported with its line and column.
 */
export function parseScenarioFile(file: string, text: string): ScenarioFile {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  const problems: FileProblem[] = [];
  const add = (path: Path, message: string, atKey = false): void => {
    problems.push({ ...locate(doc, lc, path, atKey), path: pathText(path), message });
  };
  for (const e of doc.errors) {
    const pos = lc.linePos(e.pos[0]);
    problems.push({ ...pos, path: '', message: e.message.split('\n')[0] ?? e.message });
  }
  if (problems.length > 0) throw new ScenarioFileError(file, problems);
  // Converting can still fail on text that parsed (an alias without its anchor, an alias bomb): a problem of the file.
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    problems.push({ line: 1, col: 1, path: '', message: errorMessage(err).split('\n')[0] ?? 'unreadable document' });
    throw new ScenarioFileError(file, problems);
  }
  const validate = validator();
  if (!validate(data)) {
    for (const p of schemaProblems(validate.errors ?? [])) add(p.path, p.message, p.atKey);
    throw new ScenarioFileError(file, problems);
  }
  const raw = data as { name: string; description?: string; runs: RawRun[] };
  const seen = new Map<string, number>();
  const runs: ScenarioRun[] = raw.runs.map((r, i) => {
    const at = (...rest: Path): Path => ['runs', i, ...rest];
    if (seen.has(r.name)) add(at('name'), `run name "${r.name}" is already used by runs[${seen.get(r.name)}]`);
    seen.set(r.name, i);
    const spec = SCENARIO_SPECS[r.scenario];
    if (r.kernel !== undefined && r.backend === 'docker') add(at('backend'), 'a run with kernel: runs the netns backend inside its VM: use backend netns (or auto)');
    const options = r.options ?? {};
    for (const k of Object.keys(options)) {
      if ((RESERVED_OPTIONS as readonly string[]).includes(k)) add(at('options', k), `"${k}" is set by the run entry or by repro run, not in options`, true);
      else if (!Object.hasOwn(spec.defaults, k) && !spec.optional.includes(k)) {
        add(at('options', k), `${r.scenario} has no option --${k} (it has ${[...Object.keys(spec.defaults), ...spec.optional].filter((o) => o !== 'modes').map((o) => `--${o}`).join(', ')})`, true);
      }
    }
    let expectedModes: string[] = [];
    try {
      expectedModes = spec.modeNames({ ...spec.defaults, ...options, ...(r.modes ? { modes: r.modes.join(',') } : {}) });
    } catch (err) {
      add(r.modes && /mode/i.test(errorMessage(err)) ? at('modes') : at('options'), errorMessage(err));
    }
    const thresholds: Record<string, Threshold[]> = {};
    for (const [mode, list] of Object.entries(r.thresholds ?? {})) {
      const key = parseModeKey(mode);
      if (key === null || (key.phase !== null && r.scenario === 'vxlan')) {
        add(at('thresholds', mode), `"${mode}" is not a mode key: a mode, "*", or for tcp-syn and dns a mode and its phase (dns: burst is the burst client, steady glibc) (${PHASE_KEYS.map((p) => `none@${p}`).join(', ')})`, true);
      } else if (mode !== '*' && expectedModes.length > 0 && !expectedModes.includes(key.mode)) {
        add(at('thresholds', mode), `no mode "${key.mode}" in this run (its modes: ${expectedModes.join(', ')}; or "*" for every mode)`, true);
      }
      thresholds[mode] = [];
      list.forEach((expr, j) => {
        const t = parseThreshold(expr);
        if (typeof t === 'string') add(at('thresholds', mode, j), t);
        else thresholds[mode]?.push(t);
      });
    }
    return {
      name: r.name,
      ...(r.description ? { description: r.description } : {}),
      scenario: r.scenario,
      backend: r.backend ?? 'auto',
      kernel: r.kernel ?? null,
      modes: r.modes ?? null,
      options,
      expectedModes,
      thresholds,
    };
  });
  if (problems.length > 0) throw new ScenarioFileError(file, problems);
  return { name: raw.name, ...(raw.description ? { description: raw.description } : {}), runs };
}

export async function loadScenarioFile(file: string): Promise<ScenarioFile> {
  let text: string;
  try {
    // A regular file of at most 1 MiB (no FIFO, no device): scenario files are a few KB.
    text = await readWholeInRoot('/', path.resolve(file), 1024 * 1024);
  } catch (err) {
    throw new UserError(`cannot read scenario file ${file}: ${errorMessage(err)}`);
  }
  return parseScenarioFile(file, text);
}
