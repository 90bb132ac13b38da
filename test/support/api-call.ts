// A JSON call to the HTTP API with an optional bearer token: the shape end-to-end tests that drive a
// started service (rather than the harness's inject) share.
import type { Test } from 'tap';

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

/** Registers two users (each must get 201), logs them in for bearer tokens and starts their chat. */
export async function twoUsersInAChat(t: Test, call: ApiCall, names: [string, string], password: string): Promise<{ tokens: [string, string]; chatId: string }> {
  for (const username of names) t.equal((await call('POST', '/api/register', null, { username, password })).status, 201, `${username} registered`);
  const token = async (username: string) => (await call('POST', '/api/login', null, { username, password, bearer: true })).body!['token'] as string;
  const tokens: [string, string] = [await token(names[0]), await token(names[1])];
  const chatId = (await call('POST', '/api/chats', tokens[0], { username: names[1] })).body!['chatId'] as string;
  return { tokens, chatId };
}
