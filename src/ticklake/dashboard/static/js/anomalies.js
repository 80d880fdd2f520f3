// Detector episodes shared by Live and History: ended ones from the lake (/api/anomalies),
// every phase pushed live (/api/live), merged by anomaly_id. Phases only move forward
// (start → update → end), so whichever copy arrives last, the latest phase wins and one
// episode is always one marker.

import { getJSON, utcTime } from './api.js';

const RANK = { start: 0, update: 1, end: 2 };

// Put `a` into `map` unless it already holds a later phase of the same episode.
export function mergeAnomaly(map, a) {
  const have = map.get(a.anomaly_id);
  if (have && RANK[a.phase] < RANK[have.phase]) return false;
  map.set(a.anomaly_id, a);
  return true;
}

// Keep the `max` latest episodes (by detection time).
export function pruneAnomalies(map, max) {
  if (map.size <= max) return;
  const order = [...map.values()].sort((a, b) => a.ts_detect_ns - b.ts_detect_ns);
  for (const a of order.slice(0, map.size - max)) map.delete(a.anomaly_id);
}

// The lake's ended episodes of `symbol` overlapping [since, until) (epoch ms).
export async function lakeAnomalies(symbol, since, until) {
  const answer = await getJSON('/api/anomalies', {
    symbol, since: Math.floor(since), until: Math.ceil(until),
  });
  return answer.anomalies;
}

// The Live page's list: latest detection first, one row per episode.
export function anomalyRows(tbody, anomalies, max) {
  const latest = [...anomalies].sort((a, b) => b.ts_detect_ns - a.ts_detect_ns).slice(0, max);
  tbody.replaceChildren(...latest.map((a) => {
    const tr = document.createElement('tr');
    tr.className = a.direction === 'up' ? 'buy' : 'sell';
    tr.dataset.id = a.anomaly_id;
    tr.dataset.phase = a.phase;
    tr.title = `${a.anomaly_id}: ${a.kind} ${a.direction} ${a.move_bp.toFixed(1)} bp over ` +
      `${a.horizon_s} s, score ${a.score.toFixed(2)}, ${a.trades} trades`;
    const cells = [
      [utcTime(a.ts_detect_ns / 1e6), ''], [a.symbol, ''],
      [`${a.kind} ${a.direction === 'up' ? '▲' : '▼'}`, ''],
      [`${a.move_bp.toFixed(1)}`, 'num'], [a.phase, ''],
    ];
    for (const [text, cls] of cells) {
      const td = document.createElement('td');
      td.textContent = text;
      if (cls) td.className = cls;
      tr.append(td);
    }
    return tr;
  }));
}
