/**
 * The HTML of the pages: one shell (gateways/web/pages/shell.html: head, site bar, the account menu
 * of the signed-in pages) around each page's own body (gateways/web/pages/<name>.html), joined once
 * at start. Placeholders: the page's title and classes and the hashed asset URLs, filled at start,
 * and the WebSocket URL, filled per request (it may follow the Host the browser used). Values are
 * HTML-escaped.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PAGE_NAMES, type BuiltAssets, type PageName } from './build.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

export type PageTemplates = Record<PageName, (vars: { wsUrl: string }) => string>;

interface PageShell {
  title: string;
  bodyClass: string;
  navClass: string;
  /** Only signed-in pages open the WebSocket and show the account menu. */
  signedIn: boolean;
}

const SHELLS: Record<PageName, PageShell> = {
  login: { title: 'Log in', bodyClass: 'bg-body-tertiary', navClass: 'bg-body border-bottom', signedIn: false },
  register: { title: 'Create an account', bodyClass: 'bg-body-tertiary', navClass: 'bg-body border-bottom', signedIn: false },
  profile: { title: 'My chats', bodyClass: 'bg-body-tertiary', navClass: 'bg-body border-bottom', signedIn: true },
  // The chat fills the screen: a slimmer bar leaves more room for the history.
  chat: { title: 'Chat', bodyClass: 'chat-page d-flex flex-column', navClass: 'bg-body-tertiary border-bottom py-1', signedIn: true },
};

/** `<!-- if signed-in -->…<!-- end -->` in the shell: kept (without the markers) or dropped. */
const SIGNED_IN = /^[ \t]*<!-- if signed-in -->\n([\s\S]*?)^[ \t]*<!-- end -->\n/gm;

export function loadPages(assets: BuiltAssets): PageTemplates {
  const read = (file: string): string => readFileSync(path.join(HERE, 'pages', file), 'utf8');
  const shell = read('shell.html');
  const out = {} as PageTemplates;
  for (const name of PAGE_NAMES) {
    const page = SHELLS[name];
    const fill: Record<string, string> = {
      title: escapeHtml(page.title),
      bodyClass: escapeHtml(page.bodyClass),
      navClass: escapeHtml(page.navClass),
      stylesheet: escapeHtml(assets.stylesheet),
      script: escapeHtml(assets.scripts[name]),
      body: read(`${name}.html`).trimEnd(),
    };
    const html = shell
      .replace(SIGNED_IN, (_all, kept: string) => (page.signedIn ? kept : ''))
      // {{wsUrl}} stays for the per-request fill below.
      .replace(/\{\{(\w+)\}\}/g, (all, key: string) => fill[key] ?? all);
    const [before, after] = html.split('{{wsUrl}}', 2);
    out[name] = after === undefined ? () => html : ({ wsUrl }) => `${before}${escapeHtml(wsUrl)}${after}`;
  }
  return out;
}
