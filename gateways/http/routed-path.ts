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
