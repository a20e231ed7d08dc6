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
  readonly problems: FileProblem[];
  constructor(readonly file: string, problems: FileProblem[]) {
    // In the file's order, whichever check found them.
    problems = [...problems].sort((a, b) => a.line - b.line || a.col - b.col);
    super(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}: ` + problems.map((p) => `${file}:${p.line}:${p.col}: ${p.path ? `${p.path}: ` : ''}${p.message}`).join('; '));
    this.problems = problems;
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

/**
 * JSON forbids what YAML's flow style allows, a comma before `]` or `}`: the offset of every such comma, outside
 * strings. Pure.
 */
export function trailingCommas(text: string): number[] {
  const out: number[] = [];
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === ',') {
      const next = /\S/.exec(text.slice(i + 1))?.[0];
      if (next === ']' || next === '}') out.push(i);
    }
  }
  return out;
}

/** JSON.parse's own complaint with its place, when it gives one (V8: "... (line L column C)"). */
function jsonSyntaxProblem(text: string): FileProblem | null {
  try {
    JSON.parse(text);
    return null;
  } catch (err) {
    const msg = errorMessage(err);
    const m = /\(line (\d+) column (\d+)\)/.exec(msg);
    return { line: Number(m?.[1] ?? 1), col: Number(m?.[2] ?? 1), path: '', message: `not valid JSON: ${msg.replace(/\s*\n\s*/g, ' ')}` };
  }
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
  if (/\.json$/i.test(file)) {
    // Read as YAML (for its positions), but held to JSON's grammar: every trailing comma, else JSON.parse's word.
    const commas = trailingCommas(text);
    for (const at of commas) problems.push({ ...lc.linePos(at), path: '', message: 'trailing comma: JSON allows none before ] or }' });
    const syntax = commas.length === 0 && problems.length === 0 ? jsonSyntaxProblem(text) : null;
    if (syntax) problems.push(syntax);
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
  // Runs the schema found fault with are left to its messages; the others are checked further, so that one
  // reading of the file names every problem it has.
  const faulty = new Set<number>();
  if (!validate(data)) {
    for (const p of schemaProblems(validate.errors ?? [])) {
      add(p.path, p.message, p.atKey);
      if (p.path[0] === 'runs' && typeof p.path[1] === 'number') faulty.add(p.path[1]);
    }
    const runsOf = (data as { runs?: unknown } | null)?.runs;
    if (!Array.isArray(runsOf)) throw new ScenarioFileError(file, problems);
  }
  const raw = data as { name: string; description?: string; runs: RawRun[] };
  const seen = new Map<string, number>();
  const runs: ScenarioRun[] = raw.runs.flatMap((r, i) => {
    if (faulty.has(i)) return [];
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
      // At the option the message names (`--clients must be ...`), else at modes or the options block.
      const named = /^--([\w-]+)/.exec(errorMessage(err))?.[1];
      const where = named !== undefined && named in options ? at('options', named) : r.modes && /mode/i.test(errorMessage(err)) ? at('modes') : at('options');
      add(where, errorMessage(err));
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
    return [{
      name: r.name,
      ...(r.description ? { description: r.description } : {}),
      scenario: r.scenario,
      backend: r.backend ?? 'auto',
      kernel: r.kernel ?? null,
      modes: r.modes ?? null,
      options,
      expectedModes,
      thresholds,
    }];
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
