/**
 * The system commands a run calls, each with the Debian package that installs it: the prerequisite checks read
 * this table, and a unit test holds the README's apt-get lines to it, so the quick start installs what the
 * default run needs (tcpdump was missing there while CI installed it by itself).
 */
export interface SystemCommand {
  command: string;
  /** A harmless invocation that succeeds when the command exists. */
  probe: readonly string[];
  debianPackage: string;
  /** What to say beside the install hint (e.g. how to run without it). */
  otherwise?: string;
}

/** Every lab (netns and docker backends): namespaces, rules, conntrack entries. */
export const LAB_COMMANDS: readonly SystemCommand[] = [
  { command: 'ip', probe: ['-V'], debianPackage: 'iproute2' },
  { command: 'iptables', probe: ['--version'], debianPackage: 'iptables' },
  { command: 'iptables-restore', probe: ['--version'], debianPackage: 'iptables' },
  { command: 'conntrack', probe: ['--version'], debianPackage: 'conntrack' },
];

/** tcp-syn's SYN capture (--capture on, the default). */
export const CAPTURE_COMMAND: SystemCommand = { command: 'tcpdump', probe: ['--version'], debianPackage: 'tcpdump', otherwise: 'or run with --capture off' };

/** What the default `repro tcp-syn` calls: the README's install lines must name every package here. */
export const DEFAULT_RUN_COMMANDS: readonly SystemCommand[] = [...LAB_COMMANDS, CAPTURE_COMMAND];

/** "install tcpdump (Debian: apt-get install tcpdump), or run with --capture off" */
export function installHint(c: SystemCommand): string {
  return `install ${c.debianPackage} (Debian: apt-get install ${c.debianPackage})${c.otherwise ? `, ${c.otherwise}` : ''}`;
}
