/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The two references let the root program type-check this folder as well; gateways/web/client/tsconfig.json
// is the browser's own configuration (DOM, no Node globals).

/** The element with this id, checked to be of the expected kind: a page whose markup drifted fails loudly. */
export function byId<T extends HTMLElement>(id: string, kind: new () => T): T {
  const el = document.getElementById(id);
  if (!(el instanceof kind)) throw new Error(`#${id} is missing or not a ${kind.name}`);
  return el;
}

/**
 * Creates an element. Text goes in through textContent only: nothing a user wrote is ever parsed
 * as HTML.
 */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: { className?: string; text?: string; attrs?: Record<string, string> } = {},
  children: Node[] = [],
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.className) node.className = props.className;
  if (props.text !== undefined) node.textContent = props.text;
  for (const [k, v] of Object.entries(props.attrs ?? {})) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

export function show(node: HTMLElement, text?: string): void {
  if (text !== undefined) node.textContent = text;
  node.hidden = false;
}

export function hide(node: HTMLElement): void {
  node.hidden = true;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
