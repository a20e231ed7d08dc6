import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { writeFileAtomic } from '../atomicWrite.js';

/**
 * What a run has created, written to /run/repro/<runId>.json before each creation, so that
 * `repro cleanup` after a killed run knows the subnets whose conntrack entries are the harness's.
 */
export const STATE_DIR = '/run/repro';

export interface RunState {
  runId: string;
  pid: number;
  startedAt: string;
  netns: string[];
  links: string[];
  subnets: string[];
  containers: string[];
  networks: string[];
  /** iptables tables that did not exist before the run (nf_tables creates them on first use). */
  tables: string[];
}

export class RunStateFile {
  readonly state: RunState;
  private writing: Promise<void> = Promise.resolve();

  constructor(runId: string) {
    this.state = { runId, pid: process.pid, startedAt: new Date().toISOString(), netns: [], links: [], subnets: [], containers: [], networks: [], tables: [] };
  }

  get path(): string {
    return `${STATE_DIR}/${this.state.runId}.json`;
  }

  add(kind: 'netns' | 'links' | 'subnets' | 'containers' | 'networks' | 'tables', name: string): Promise<void> {
    if (!this.state[kind].includes(name)) this.state[kind].push(name);
    return this.save();
  }

  save(): Promise<void> {
    const text = JSON.stringify(this.state, null, 2);
    this.writing = this.writing.then(async () => {
      await mkdir(STATE_DIR, { recursive: true });
      await writeFileAtomic(this.path, text, { replace: true });
    });
    return this.writing;
  }

  async remove(): Promise<void> {
    await this.writing.catch(() => undefined);
    await rm(this.path, { force: true });
  }
}

export async function readAllRunStates(): Promise<{ path: string; state: RunState }[]> {
  let names: string[];
  try {
    names = await readdir(STATE_DIR);
  } catch {
    return [];
  }
  const out: { path: string; state: RunState }[] = [];
  for (const n of names.filter((f) => f.endsWith('.json'))) {
    try {
      const path = `${STATE_DIR}/${n}`;
      out.push({ path, state: JSON.parse(await readFile(path, 'utf8')) as RunState });
    } catch {
      // unreadable state files are skipped; names are still found by pattern
    }
  }
  return out;
}
