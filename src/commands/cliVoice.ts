import type { Arguments, Argv } from 'yargs';
import { UserError } from '../errors.js';

type OptionLists = Record<'boolean' | 'count' | 'string' | 'number' | 'array', string[]>;

// getOptions is public in yargs but missing from its type declarations.
const optionsOf = (a: unknown): OptionLists => (a as { getOptions(): OptionLists }).getOptions();

/**
 * Every option that takes a value must be given one: without this, yargs hands `--pid` alone over as undefined
 * (the option silently absent: `audit --pid $(pgrep -x nosuch)` audits the host) and `--clients` alone as its
 * default. Called on a command's builder result, so options added later by any command are covered too.
 */
export function requireValues<T>(a: Argv<T>): Argv<T> {
  const o = optionsOf(a);
  const flags = new Set([...o.boolean, ...o.count, 'help', 'version']);
  const valued = [...new Set([...o.string, ...o.number, ...o.array])].filter((k) => !flags.has(k));
  return valued.length > 0 ? a.requiresArg(valued) : a;
}

const quote = (s: string): string => JSON.stringify(s);

/** The word the user typed for option `name` (`--name`, `--name=v`, `-n`), or `--name` when none matches. */
function typedOption(name: string, words: readonly string[]): { word: string; index: number } {
  const index = words.findIndex((w) => w === `--${name}` || w.startsWith(`--${name}=`) || w === `-${name}`);
  return { word: index >= 0 ? (words[index] ?? '').replace(/=.*$/, '') : name.length === 1 ? `-${name}` : `--${name}`, index };
}

/** "a, b or c". */
function orList(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items.at(-1) ?? ''}`;
}

/**
 * yargs' own messages ("Not enough non-option arguments: got 0, need at least 2", "Unknown argument: x",
 * "Invalid values: ...") as one line each in the project's voice, quoting what was typed. `words` are the
 * command line after `repro`, `commands` the command names. Pure; a message it does not know comes back folded onto one line.
 */
export function yargsMessage(msg: string, words: readonly string[], commands: readonly string[]): string {
  const one = msg.replace(/\s*\n\s*/g, ' ').trim();
  const command = words.find((w) => !w.startsWith('-'));
  const help = command ? `repro ${command} --help` : 'repro --help';

  let m = /^Not enough arguments following: (\S+)$/.exec(one);
  if (m) {
    const { word, index } = typedOption(m[1] ?? '', words);
    const next = index >= 0 ? words[index + 1] : undefined;
    return next === undefined ? `${word} needs a value, and nothing follows it` : `${word} needs a value, got the option ${quote(next)}`;
  }
  m = /^Not enough non-option arguments: got (\d+), need at least (\d+)$/.exec(one);
  if (m) {
    const need = Number(m[2]);
    return `repro ${command ?? ''} needs ${need} argument${need === 1 ? '' : 's'}, got ${m[1]} (see ${help})`;
  }
  m = /^Too many non-option arguments: got (\d+), maximum of (\d+)$/.exec(one);
  if (m) return `repro ${command ?? ''} takes ${m[2]} argument${m[2] === '1' ? '' : 's'}, got ${m[1]} (see ${help})`;
  m = /^Unknown arguments?: (.+)$/.exec(one);
  if (m) {
    // yargs names an unknown --foo-bar twice (foo-bar and its camelCase alias fooBar): one name each, kebab-case.
    const names = [...new Set((m[1] ?? '').split(', ').map((n) => (words.includes(`--${n}`) || words.includes(n) ? n : n.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`))))];
    const typed = names.map((n) => {
      const t = typedOption(n, words);
      // yargs reads --no-foo as foo negated and names foo: give back what was typed.
      return t.index >= 0 ? t.word : words.includes(n) ? n : words.includes(`--no-${n}`) ? `--no-${n}` : `--${n}`;
    });
    if (command !== undefined && !commands.includes(command) && typed.includes(command)) return `unknown command ${quote(command)} (commands: ${commands.join(', ')})`;
    const options = [...new Set(typed.filter((t) => t.startsWith('-')))];
    const others = typed.filter((t) => !t.startsWith('-'));
    if (options.length === 0) return `unexpected argument${others.length > 1 ? 's' : ''} ${others.map(quote).join(' ')} (see ${help})`;
    return `${command ? `repro ${command} has` : 'repro has'} no option${options.length > 1 ? 's' : ''} ${options.map(quote).join(', ')} (see ${help})`;
  }
  m = /^Invalid values: Argument: (\S+), Given: (.+?), Choices: (.+)$/.exec(one);
  if (m) {
    const t = typedOption(m[1] ?? '', words);
    // Not typed as an option: a positional, named as its usage line does.
    const word = t.index >= 0 ? t.word : `<${m[1] ?? ''}>`;
    const choices = (m[3] ?? '').split(', ').map((c) => c.replace(/^"(.*)"$/, '$1'));
    return `${word} ${m[2]}: choose ${orList(choices)}`;
  }
  m = /^Did you mean (.+)\?$/.exec(one);
  if (m) return `unknown command ${quote(command ?? '')}: did you mean ${m[1]}? (see repro --help)`;
  m = /^Missing required argument: (.+)$/.exec(one);
  if (m) return `${(m[1] ?? '').split(', ').map((n) => typedOption(n, words).word).join(', ')} is required (see ${help})`;
  return one;
}

/** What was typed as the values of `--name` (`--name v` or `--name=v`), in order. */
function typedValues(name: string, words: readonly string[]): string[] {
  return words.flatMap((w, i) => (w === `--${name}` ? [words[i + 1] ?? ''] : w.startsWith(`--${name}=`) ? [w.slice(name.length + 3)] : []));
}

/**
 * A yargs middleware (before validation) on `parser`: a number option whose text is not a number arrives as NaN; refuse it
 * quoting what was typed (`--clients "abc" is not a number`), never "got NaN".
 */
export function refuseNaN<T>(words: readonly string[], parser: Argv<T>): (argv: Arguments) => void {
  // The parser holds the options of the command being parsed when the middleware runs.
  return (argv) => {
    for (const k of optionsOf(parser).number) {
      const v = argv[k];
      if (!(Array.isArray(v) ? v : [v]).some((x) => typeof x === 'number' && Number.isNaN(x))) continue;
      const typed = typedValues(k, words).find((t) => Number.isNaN(Number(t)));
      if (typed !== undefined) throw new UserError(`--${k} ${JSON.stringify(typed)} is not a number`);
    }
  };
}

/**
 * The last line of a command that exits 1 by a rule the user set (--fail-on, --fail-on-worse, a file's thresholds):
 * which rule, and what crossed it.
 */
export function failLine(rule: string, failures: readonly string[]): string {
  return `exit 1 by ${rule}: ${failures.join('; ')}`;
}
