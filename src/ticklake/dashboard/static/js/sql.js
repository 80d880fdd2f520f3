// The SQL page: run one read-only statement (Ctrl+Enter), page through the rows, chart them,
// export CSV. Values arrive exact (decimals and big integers as text) and are parsed to
// numbers only for the chart.

import { el, getJSON, postJSON } from './api.js';
import { candleFigure, plotConfig } from './chart.js';

const PAGE = 100;
const NUMERIC = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|REAL|DECIMAL)/;
const TEMPORAL = /^(TIMESTAMP|DATE|TIME)/;
const state = { result: null, page: 0, running: false };
window.__ticklake = Object.assign(window.__ticklake || {}, { sql: state });

const $ = (id) => document.getElementById(id);

function examples(symbol) {
  const s = symbol.replace(/'/g, "''");
  return [
    ['1-minute candles', `SELECT * FROM candles('${s}', INTERVAL 1 MINUTE)\nORDER BY bucket DESC LIMIT 500`],
    ['VWAP per 5 minutes', `SELECT bucket, vwap, volume, trades FROM vwap('${s}', INTERVAL 5 MINUTE)`],
    ['Trades per hour, every symbol', 'SELECT * FROM trade_counts(INTERVAL 1 HOUR)'],
    ['Buy/sell imbalance (15 s)', `SELECT bucket, imbalance, ratio FROM imbalance('${s}', INTERVAL 15 SECOND)\nORDER BY bucket DESC LIMIT 1000`],
    ['Order book now (10 levels)', `SELECT * FROM book_at('${s}', now(), 10)`],
    ['Spread per second, last 10 minutes', `SELECT ts, bid, ask, spread_bp, top_imbalance\nFROM book_top('${s}', INTERVAL 1 SECOND, now() - INTERVAL 10 MINUTE, now())`],
    ['Largest trades', `SELECT ts, symbol, side, price, qty FROM trades\nWHERE symbol = '${s}' ORDER BY qty DESC LIMIT 50`],
    ['Gaps (possibly missing trades)', 'SELECT symbol, from_ts, to_ts, to_ns - from_ns AS span_ns, reason\nFROM gaps ORDER BY from_ts DESC'],
    ['Rejected frames', 'SELECT recv_ts, reason, payload FROM rejected ORDER BY recv_ts DESC LIMIT 100'],
    ['Anomalies', 'SELECT ts_start, symbol, kind, direction, move_bp, score\nFROM anomalies ORDER BY ts_start DESC LIMIT 100'],
  ];
}

export async function startSql() {
  let symbol = 'BTCUSD';
  try { symbol = (await getJSON('/api/symbols')).symbols[0] || symbol; } catch { /* empty lake */ }
  const list = examples(symbol);
  const select = $('sql-examples');
  list.forEach(([name], i) => select.append(new Option(name, String(i))));
  select.addEventListener('change', () => {
    if (select.value === '') return;
    $('sql-editor').value = list[Number(select.value)][1];
    run();
  });
  $('sql-run').addEventListener('click', run);
  $('sql-editor').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); run(); }
  });
  $('sql-csv').addEventListener('submit', () => { $('sql-csv').elements.sql.value = $('sql-editor').value; });
  $('sql-prev').addEventListener('click', () => page(state.page - 1));
  $('sql-next').addEventListener('click', () => page(state.page + 1));
  for (const id of ['sql-kind', 'sql-x', 'sql-y']) $(id).addEventListener('change', chart);
}

async function run() {
  if (state.running) return;
  state.running = true;
  $('sql-meta').textContent = 'running…';
  $('sql-error').hidden = true;
  try {
    state.result = await postJSON('/api/sql', { sql: $('sql-editor').value });
  } catch (err) {
    state.result = null;
    $('sql-error').textContent = err.message;
    $('sql-error').hidden = false;
    $('sql-result').hidden = true;
    $('sql-meta').textContent = '';
    return;
  } finally {
    state.running = false;
  }
  const r = state.result;
  $('sql-meta').textContent = `${r.rows.length} rows${r.truncated ? ' (truncated: more rows matched; add LIMIT or aggregate)' : ''} · ${(r.elapsed * 1000).toFixed(0)} ms`;
  $('sql-result').hidden = false;
  pickAxes(r);
  page(0);
  chart();
}

function page(n) {
  const r = state.result;
  const pages = Math.max(1, Math.ceil(r.rows.length / PAGE));
  state.page = Math.min(Math.max(0, n), pages - 1);
  const rows = r.rows.slice(state.page * PAGE, (state.page + 1) * PAGE);
  const numeric = r.types.map((t) => NUMERIC.test(t));
  $('sql-table').replaceChildren(
    el('thead', {}, el('tr', {}, ...r.columns.map((c, i) => el('th', { title: r.types[i] }, c)))),
    el('tbody', {}, ...rows.map((row) => el('tr', {}, ...row.map((v, i) =>
      el('td', numeric[i] ? { class: 'num' } : {}, v === null ? 'NULL' : String(v)))))));
  $('sql-page').textContent = `page ${state.page + 1} of ${pages}`;
}

function pickAxes(r) {
  const names = r.columns;
  const numeric = names.filter((_, i) => NUMERIC.test(r.types[i]));
  const temporal = names.find((_, i) => TEMPORAL.test(r.types[i]));
  const x = temporal || names[0];
  const y = numeric.find((n) => n !== x) || numeric[0] || names[0];
  $('sql-x').replaceChildren(...names.map((n) => new Option(n, n, false, n === x)));
  $('sql-y').replaceChildren(...numeric.map((n) => new Option(n, n, false, n === y)));
  const ohlc = ['open', 'high', 'low', 'close'].every((c) => names.includes(c));
  $('sql-kind').value = ohlc ? 'candles' : 'line';
}

function column(name) {
  const r = state.result;
  const i = r.columns.indexOf(name);
  const temporal = TEMPORAL.test(r.types[i]) && !/^TIME(?!STAMP)/.test(r.types[i]);
  const numeric = NUMERIC.test(r.types[i]);
  return r.rows.map((row) => {
    const v = row[i];
    if (v === null) return null;
    if (temporal) return Date.parse(/T|\s/.test(v) ? v : `${v}T00:00:00Z`);
    return numeric ? Number(v) : v;
  });
}

function chart() {
  const r = state.result;
  if (!r) return;
  const gd = $('sql-chart');
  const kind = $('sql-kind').value;
  const xName = $('sql-x').value;
  const xi = r.columns.indexOf(xName);
  const xDate = TEMPORAL.test(r.types[xi]) && !/^TIME(?!STAMP)/.test(r.types[xi]);
  if (kind === 'candles') {
    const want = (n) => (r.columns.includes(n) ? column(n) : []);
    const vol = r.columns.includes('buy_volume') ? want('buy_volume') : want('volume');
    const fig = candleFigure({ t: column(xName), o: want('open'), h: want('high'), l: want('low'),
      c: want('close'), bv: vol, sv: want('sell_volume'), n: want('trades') }, { uirevision: 'sql' });
    if (!xDate) fig.layout.xaxis.type = '-';
    Plotly.react(gd, fig.data, fig.layout, plotConfig);
    return;
  }
  const yName = $('sql-y').value;
  const trace = { x: column(xName), y: yName ? column(yName) : [], name: yName };
  if (kind === 'bar') trace.type = 'bar';
  else { trace.type = 'scatter'; trace.mode = kind === 'scatter' ? 'markers' : 'lines'; }
  const axis = { gridcolor: '#2a313a', zerolinecolor: '#2a313a' };
  Plotly.react(gd, [trace], {
    uirevision: 'sql', margin: { l: 60, r: 16, t: 8, b: 40 },
    paper_bgcolor: '#111418', plot_bgcolor: '#111418', font: { color: '#d8dde3' },
    xaxis: { ...axis, type: xDate ? 'date' : '-', title: { text: xName } },
    yaxis: { ...axis, title: { text: yName } },
  }, plotConfig);
}
