/**
 * The HTML shells of the pages. They are static files (gateways/web/pages/*.html) with a few
 * placeholders: the hashed asset URLs, filled once at start, and the WebSocket URL, filled per
 * request (it may follow the Host the browser used). Values are HTML-escaped.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PAGE_NAMES, type BuiltAssets, type PageName } from './build.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

export type PageTemplates = Record<PageName, (vars: { wsUrl: string }) => string>;

export function loadPages(assets: BuiltAssets): PageTemplates {
  const out = {} as PageTemplates;
  for (const name of PAGE_NAMES) {
    const html = readFileSync(path.join(HERE, 'pages', `${name}.html`), 'utf8')
      .replaceAll('{{stylesheet}}', escapeHtml(assets.stylesheet))
      .replaceAll('{{script}}', escapeHtml(assets.scripts[name]));
    const [before, after] = html.split('{{wsUrl}}', 2);
    out[name] = after === undefined ? () => html : ({ wsUrl }) => `${before}${escapeHtml(wsUrl)}${after}`;
  }
  return out;
}
