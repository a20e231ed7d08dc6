/**
 * `npm pack`'s prepack step, after a build that had to compile both native engines: bake the commit into
 * dist/stamp.json (see host/buildStamp.ts), since the installed package has no .git to ask.
 */
import { writeStamp } from './host/buildStamp.js';
import { packageInfo } from './host/environment.js';

const { root } = await packageInfo();
const stamp = await writeStamp(root);
process.stderr.write(`prepack: dist/stamp.json commit ${stamp.commit ?? 'unknown (no .git and no REPRO_COMMIT)'}\n`);
