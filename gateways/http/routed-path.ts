/**
 * The path as the router matched it: percent-decoded (`/%61pi/me` is `/api/me` to the router, so it
 * must be to every rule about API paths too). A path that does not decode matched no route either.
 */
export function routedPath(url: string): string {
  const path = url.split('?', 1)[0] ?? '';
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/** `/api` and everything below it: JSON only, never cached, never answered with a page. */
export const isApiPath = (path: string): boolean => path === '/api' || path.startsWith('/api/');
