/**
 * TEMPORARY (issue 20): `repro tcp-syn|dns|vxlan ... --kernel FILE|debian [--kernel-modules DIR] [--vm-cpus N]
 * [--vm-memory MB]` runs the scenario in a VM, until the scenario commands take these options themselves.
 * Called first thing by main(); returns null when the command line asks for no VM.
 */
import { runScenarioInVm, VM_DEFAULTS } from '../vm/runInVm.js';
import { ProgressPrinter } from './progress.js';
import { handleInterrupts } from './interrupts.js';
import { writeAndRender } from './scenarioCommand.js';
import { UserError, errorMessage } from '../errors.js';
import type { ScenarioName } from '../types.js';

const SCENARIOS: readonly ScenarioName[] = ['tcp-syn', 'dns', 'vxlan'];

function optionValue(words: readonly string[], name: string): string | undefined {
  for (let i = 0; i < words.length; i++) {
    const w = words[i] ?? '';
    if (w === name) return words[i + 1];
    if (w.startsWith(`${name}=`)) return w.slice(name.length + 1);
  }
  return undefined;
}

function numberOption(words: readonly string[], name: string, fallback: number): number {
  const v = optionValue(words, name);
  return v === undefined ? fallback : Number(v);
}

export async function vmHook(words: readonly string[]): Promise<number | null> {
  const scenario = SCENARIOS.find((s) => s === words[0]);
  const kernel = optionValue(words, '--kernel');
  if (!scenario || kernel === undefined) return null;
  const progress = new ProgressPrinter(process.stderr);
  const interrupts = handleInterrupts((t) => progress.phase(t));
  try {
    const modulesDir = optionValue(words, '--kernel-modules');
    const result = await runScenarioInVm({
      scenario,
      args: words.slice(1),
      kernel,
      ...(modulesDir !== undefined ? { modulesDir } : {}),
      cpus: numberOption(words, '--vm-cpus', VM_DEFAULTS.cpus),
      memoryMb: numberOption(words, '--vm-memory', VM_DEFAULTS.memoryMb),
      command: ['repro', ...words].join(' '),
      onRunId: (id) => interrupts.setRunId(id),
      onPhase: (t) => progress.phase(t),
      onProgress: (p) => progress.progress(p, scenario === 'dns' ? 'lookups' : 'attempts'),
      signal: interrupts.signal,
    });
    progress.endLine();
    return await writeAndRender({ json: words.includes('--json'), out: optionValue(words, '--out') }, result);
  } catch (err) {
    progress.endLine();
    process.stderr.write(`repro: ${errorMessage(err)}\n`);
    return err instanceof UserError ? err.exitCode : 1;
  } finally {
    interrupts.dispose();
  }
}
