import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { manifestFiles } from './kubernetesManifests.js';

/** npm run manifests: (re)writes deploy/kubernetes/ from the typed objects. */
const dir = fileURLToPath(new URL('../../deploy/kubernetes/', import.meta.url));
mkdirSync(dir, { recursive: true });
for (const [name, text] of Object.entries(manifestFiles())) {
  writeFileSync(`${dir}${name}`, text);
  process.stderr.write(`wrote deploy/kubernetes/${name}\n`);
}
