import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedFiles } from './files.js';

/** `npm run dashboards`: writes the dashboards and alert rules into `provisioning/`. */
const PROVISIONING = fileURLToPath(new URL('../provisioning/', import.meta.url));

for (const file of generatedFiles()) {
  const target = join(PROVISIONING, file.path);
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, file.text);
  process.stdout.write(`wrote provisioning/${file.path}\n`);
}
