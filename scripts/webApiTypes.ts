/**
 * Writes the page's API types from the document `/openapi.json` serves. The page imports only
 * these types, so a changed contract fails the page's type-check instead of the page at run time.
 *   tsx scripts/webApiTypes.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';
import { openApiDocument } from '../api/openapi.js';

export const API_TYPES_FILE = fileURLToPath(new URL('../web/src/generated/api.d.ts', import.meta.url));

export async function writeWebApiTypes(): Promise<string> {
  const document = openApiDocument();
  const ast = await openapiTS(document as unknown as Parameters<typeof openapiTS>[0]);
  const header = '// Generated from api/openapi.ts by scripts/webApiTypes.ts; do not edit.\n';
  mkdirSync(dirname(API_TYPES_FILE), { recursive: true });
  writeFileSync(API_TYPES_FILE, header + astToString(ast));
  return API_TYPES_FILE;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`wrote ${await writeWebApiTypes()}`);
}
