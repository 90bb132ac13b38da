/**
 * `npm run docs:http`: rewrites the generated endpoint reference in docs/http.md from the OpenAPI
 * document (test/http/openapi.test.ts fails while the committed text differs from it).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { endpointReference, spliceGenerated } from './markdown.js';
import { openApiDocument } from './openapi.js';

const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../docs/http.md');
const before = readFileSync(file, 'utf8');
const after = spliceGenerated(before, endpointReference(await openApiDocument()));
if (after !== before) writeFileSync(file, after);
process.stdout.write(`${after === before ? 'unchanged' : 'updated'}: ${path.relative(process.cwd(), file)}\n`);
