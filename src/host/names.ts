import { randomBytes } from 'node:crypto';

/**
 * Every namespace, link and chain the harness creates carries the run id in a fixed shape,
 * so cleanup can find them by name alone and never touches anything else.
 * Link names must fit IFNAMSIZ (15 characters).
 */
export const NETNS_PREFIX = 'repro-';
export const LINK_PREFIX = 'rp';

export function newRunId(): string {
  return randomBytes(3).toString('hex');
}

export const netnsName = (runId: string, role: string): string => `${NETNS_PREFIX}${runId}-${role}`;
/** Docker containers and networks take the namespaces' shape, so `repro cleanup` finds both by one pattern. */
export const containerName = (runId: string, role: string): string => `${NETNS_PREFIX}${runId}-${role}`;
export const linkName = (runId: string, role: string): string => `${LINK_PREFIX}${runId}-${role}`;

export const NETNS_PATTERN = /^repro-([0-9a-f]{6})-[a-z0-9]+$/;
export const LINK_PATTERN = /^rp([0-9a-f]{6})-[a-z0-9]+$/;
