// The API token: kept in localStorage, sent as `Authorization: Bearer` on every request and in
// the WebSocket's connection_init. A server in dev mode needs none.

const KEY = "stackhouse.token";

export function storedToken(): string | null {
  try {
    return localStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function storeToken(token: string | null): void {
  if (token) localStorage.setItem(KEY, token);
  else localStorage.removeItem(KEY);
}

export function authHeaders(token: string | null): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}
