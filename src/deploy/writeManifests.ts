import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_IMAGE, manifestFiles } from './kubernetesManifests.js';

/** npm run manifests [-- --image name@sha256:<digest>]: (re)writes deploy/kubernetes/ from the typed objects. */
const at = process.argv.indexOf('--image');
const image = at > 0 ? (process.argv[at + 1] ?? '') : DEFAULT_IMAGE;
const dir = fileURLToPath(new URL('../../deploy/kubernetes/', import.meta.url));
mkdirSync(dir, { recursive: true });
for (const [name, text] of Object.entries(manifestFiles(image))) {
  writeFileSync(`${dir}${name}`, text);
  process.stderr.write(`wrote deploy/kubernetes/${name}\n`);
}
