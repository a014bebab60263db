// The service's dashboard routes, with the API key.  The key stays in this tab
// (sessionStorage) unless the user ticks "remember on this device" (localStorage).

const KEY = "zoadamm.apiKey";

export class AuthError extends Error {
  constructor(status, detail) {
    super(`${status}${detail ? ": " + detail : ""}`);
    this.status = status;
  }
}

export const apiKey = () => sessionStorage.getItem(KEY) || localStorage.getItem(KEY) || "";
export const remembered = () => localStorage.getItem(KEY) !== null;

export function forgetKey() {
  sessionStorage.removeItem(KEY);
  localStorage.removeItem(KEY);
}

export function saveKey(key, remember) {
  forgetKey();
  if (key) (remember ? localStorage : sessionStorage).setItem(KEY, key);
}

// The JSON answer of GET `path`; null for a 404.  Raises AuthError on 401 and 403.
export async function api(path) {
  const headers = { Accept: "application/json" };
  const key = apiKey();
  if (key) headers.Authorization = "Bearer " + key;
  const response = await fetch(path, { headers, cache: "no-store" });
  if (response.status === 401 || response.status === 403) {
    let detail = "";
    try { detail = (await response.json()).detail || ""; } catch (e) { /* not JSON */ }
    throw new AuthError(response.status, detail);
  }
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}
