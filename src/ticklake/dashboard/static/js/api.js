// Talking to the dashboard's API, and the formatting every page shares.
// Errors arrive as {"error": "one line"}; they are thrown as Error(message) for the page to show.

export const STEP_MS = { '1s': 1000, '1m': 60000, '5m': 300000, '1h': 3600000 };

async function answer(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON: fall through */ }
  if (!response.ok) {
    throw new Error((body && body.error) || `HTTP ${response.status} ${response.statusText}`);
  }
  return body;
}

export async function getJSON(path, params) {
  const query = params ? '?' + new URLSearchParams(params).toString() : '';
  return answer(await fetch(path + query, { credentials: 'same-origin' }));
}

export async function postJSON(path, body) {
  return answer(await fetch(path, {
    method: 'POST', credentials: 'same-origin',
    headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  }));
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

export function utcTime(ms) {  // HH:MM:SS.mmm
  const d = new Date(ms);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}` +
    `.${pad(d.getUTCMilliseconds(), 3)}`;
}

export function utcStamp(ms) {  // YYYY-MM-DD HH:MM:SS.mmm UTC
  return `${new Date(ms).toISOString().slice(0, 10)} ${utcTime(ms)} UTC`;
}

export function utcInput(ms) {  // value for <input type="datetime-local"> read as UTC
  return new Date(ms).toISOString().slice(0, 19);
}

export function parseUtc(text) {  // "2026-11-25T10:00:00" or plotly's "2026-11-25 10:00:00.5"
  if (typeof text === 'number') return text;
  const iso = String(text).trim().replace(' ', 'T');
  return Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : iso + 'Z');
}

export function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

export function age(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms ago`;
  if (seconds < 120) return `${seconds.toFixed(1)} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

export const count = (n) => (n === null || n === undefined ? '–' : n.toLocaleString('en-US'));

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v; else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}
