import { MASQUERADE_MODES, type ScenarioName } from '../types.js';
import { DNS_MODES } from '../scenarios/dns/modes.js';
import { POSTROUTING_VARIANTS } from '../scenarios/vxlan/kubeProxyRules.js';
import { modeName } from '../scenarios/vxlan/options.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** The hidden flag yargs answers completions on (its default name, kept so older installed scripts still work). */
export const COMPLETIONS_FLAG = 'get-yargs-completions';

/**
 * The scripts ask `repro --get-yargs-completions <words>` at each TAB, so they follow the installed version's
 * commands and options. `name` is how the program is called (repro, or a path).
 */
export function completionScript(shell: Shell, name: string): string {
  const fn = '_repro_completions';
  if (shell === 'bash') {
    return `# repro completion for bash: source <(repro completion bash), or save it in ~/.local/share/bash-completion/completions/repro
${fn}() {
  local cur_word type_list
  cur_word="\${COMP_WORDS[COMP_CWORD]}"
  type_list=$(${name} --${COMPLETIONS_FLAG} "\${COMP_WORDS[@]:0:COMP_CWORD+1}" 2>/dev/null)
  COMPREPLY=( $(compgen -W "\${type_list}" -- "\${cur_word}") )
  return 0
}
# No candidate: -o default completes file names (result files, scenario files).
complete -o bashdefault -o default -F ${fn} repro
`;
  }
  if (shell === 'zsh') {
    return `#compdef repro
# repro completion for zsh: repro completion zsh > "\${fpath[1]}/_repro", or source <(repro completion zsh)
${fn}() {
  local reply
  local si=$IFS
  IFS=$'\\n' reply=($(SHELL=zsh ${name} --${COMPLETIONS_FLAG} "\${words[@]:0:CURRENT}" 2>/dev/null))
  IFS=$si
  if [[ \${#reply} -gt 0 ]]; then _describe 'values' reply; else _default; fi
}
if [[ "\${zsh_eval_context[-1]}" == "loadautofunc" ]]; then ${fn} "$@"; else compdef ${fn} repro; fi
`;
  }
  return `# repro completion for fish: repro completion fish > ~/.config/fish/completions/repro.fish
function __repro_completions
  ${name} --${COMPLETIONS_FLAG} (commandline -opc) (commandline -ct) 2>/dev/null
end
complete -c repro -f -a '(__repro_completions)'
`;
}

/** Every mode name a scenario takes, for `--modes <TAB>`. */
export function modeCandidates(scenario: ScenarioName): string[] {
  if (scenario === 'tcp-syn') return [...MASQUERADE_MODES];
  if (scenario === 'dns') return [...DNS_MODES];
  return POSTROUTING_VARIANTS.flatMap((rules) =>
    [...MASQUERADE_MODES].reverse().flatMap((flag) => [false, true].map((offloadOff) => modeName({ rules, flag, offloadOff }))),
  );
}

/**
 * What `--modes <TAB>` offers: the scenario's mode names, after the ones already typed in a comma list
 * (`none,ra<TAB>` offers `none,random` and `none,random-fully`). Pure.
 */
export function modesCompletion(scenario: ScenarioName, current: string): string[] {
  const cut = current.lastIndexOf(',');
  const head = cut >= 0 ? current.slice(0, cut + 1) : '';
  const typed = new Set(head.split(',').filter((w) => w !== ''));
  return modeCandidates(scenario).filter((m) => !typed.has(m)).map((m) => head + m);
}
