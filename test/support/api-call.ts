// A JSON call to the HTTP API with an optional bearer token: the shape end-to-end tests that drive a
// started service (rather than the harness's inject) share.
export type ApiCall = (method: string, path: string, token: string | null, body?: unknown) => Promise<{ status: number; body: Record<string, unknown> | null }>;

export function apiCaller(baseUrl: string): ApiCall {
  return async (method, p, token, body) => {
    const res = await fetch(`${baseUrl}${p}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : null };
  };
}
