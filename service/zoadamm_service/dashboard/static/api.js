// The service's dashboard routes, with the API key.  The key stays in this tab
// (sessionStorage) unless the user ticks "remember on this device" (localStorage).

const KEY = "zoadamm.apiKey";

// A refused key: 401, 403, or 429 with the 401's challenge (WWW-Authenticate), which the service
// answers an address that sent too many unknown keys (ZOADAMM_AUTH_FAIL_LIMIT) until Retry-After.
export class AuthError extends Error {
  constructor(status, detail, retryAfter = 0) {
    super(`${status}${detail ? ": " + detail : ""}`);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

// Any other answer but 2xx and 404; `retryAfter`: the seconds its Retry-After asks for (0: none).
export class HttpError extends Error {
  constructor(path, status, retryAfter) {
    super(`${path}: HTTP ${status}`);
    this.retryAfter = retryAfter;
  }
}

// Retry-After in seconds (the service sends seconds; a date is read too).
function retryAfter(response) {
  const value = response.headers.get("Retry-After");
  if (value === null) return 0;
  const seconds = /^\d+$/.test(value.trim()) ? Number(value) : (Date.parse(value) - Date.now()) / 1000;
  return Number.isFinite(seconds) ? Math.max(0, seconds) : 0;
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

// An error answer's `detail`, or "" where it has none (not JSON: a proxy's page).
async function detailOf(response) {
  try {
    const { detail } = await response.json();
    return typeof detail === "string" ? detail : "";
  } catch (e) {
    return "";
  }
}

// The JSON answer of GET `path`; null for a 404, whose detail (the service's reason) is handed to
// `missing`.  Raises AuthError for a refused key, HttpError for any other failure.
export async function api(path, missing = () => {}) {
  const headers = { Accept: "application/json" };
  const key = apiKey();
  if (key) headers.Authorization = "Bearer " + key;
  const response = await fetch(path, { headers, cache: "no-store" });
  const challenged = response.status === 429 && response.headers.has("WWW-Authenticate");
  if (response.status === 401 || response.status === 403 || challenged) {
    throw new AuthError(response.status, await detailOf(response), retryAfter(response));
  }
  if (response.status === 404) {
    missing(await detailOf(response));
    return null;
  }
  if (!response.ok) throw new HttpError(path, response.status, retryAfter(response));
  return response.json();
}
