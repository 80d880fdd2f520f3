// The Live page: trades pushed over /api/live, aggregated into candles here.
//
// Seeding without double counting: the server's hello carries `seam`, the spool offset at the
// moment this page subscribed. The chart starts from the lake's candles of trades below the
// seam (/api/candles?before_offset=seam) and adds every pushed trade (all at or above it).
// Buckets are epoch-aligned on both sides, so they line up.
//
// Detector episodes: the hello carries the server's recent ones (open or ended), the seed adds
// the lake's ended ones over the seeded range, and pushed phases follow; all are merged by
// anomaly_id keeping the latest phase (anomalies.js), so each episode is one marker.
//
// Order book: the page tells the server which symbol's book to push ({type: "book"}) after
// every hello and symbol switch; book.js draws the frames.

import { STEP_MS, count, getJSON, utcTime, age } from './api.js';
import { anomalyRows, lakeAnomalies, mergeAnomaly, pruneAnomalies } from './anomalies.js';
import { candleFigure, decimalsOf, plotConfig } from './chart.js';
import { onBook, resetBook } from './book.js';

const MAX_TRADES = 300000;    // kept to re-aggregate on an interval switch
const MAX_CANDLES = 600;      // drawn
const TAPE_ROWS = 40;
const SEED_CANDLES = 600;     // of history per interval
const SEED_AHEAD_MS = 600000; // exchange clocks may run ahead of ours
const MAX_ANOMALIES = 2000;   // kept (all symbols)
const ANOMALY_ROWS = 20;      // in the list

const state = {
  recording: null, symbols: [], symbol: null, step: '1s', seam: null, bookSymbols: null,
  trades: [], candles: new Map(), seeded: false, seedRun: 0, tickers: new Map(),
  last: null, decimals: null, anomalies: new Map(), gd: null, dirty: false, renders: 0,
  pending: [], latencies: [], tapeQueue: [], status: null, uiQueued: false, renderMs: [], lastRenderEnd: 0, lastRenderMs: 0, socket: null, retry: 500,
};
window.__ticklake = Object.assign(window.__ticklake || {}, { live: state });

const $ = (id) => document.getElementById(id);

export function startLive() {
  state.gd = $('live-chart');
  $('live-symbol').addEventListener('change', (e) => {
    state.symbol = e.target.value;
    tickerStrip();
    watchBook();
    anomalyList();
    reseed();
  });
  for (const button of $('live-interval').querySelectorAll('button')) {
    button.addEventListener('click', () => {
      $('live-interval').querySelector('.active')?.classList.remove('active');
      button.classList.add('active');
      state.step = button.dataset.step;
      reseed();
    });
  }
  connect();
}

function connect() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const socket = new WebSocket(`${scheme}://${location.host}/api/live`);
  state.socket = socket;
  $('conn').textContent = 'connecting…';
  socket.onmessage = (event) => onMessage(JSON.parse(event.data));
  socket.onopen = () => { state.retry = 500; $('conn').textContent = 'live'; };
  socket.onclose = () => {
    $('conn').textContent = 'disconnected, retrying…';
    if (state.recording === false) return;
    setTimeout(connect, state.retry);
    state.retry = Math.min(state.retry * 2, 5000);
  };
}

function onMessage(msg) {
  if (msg.type === 'hello') return onHello(msg);
  if (msg.type !== 'tick') return;
  for (const frame of msg.books || []) onBook(frame);
  for (const t of msg.tickers || []) {
    state.tickers.set(t[0], t);
    if (t[0] === state.symbol) tickerStrip();
  }
  const mine = [];
  for (const t of msg.trades) {
    const trade = { s: t[0], t: t[1], p: t[2], q: t[3], side: t[4] };
    state.trades.push(trade);
    if (trade.s === state.symbol) {
      mine.push(trade);
      state.last = trade.p;
      state.decimals = Math.max(state.decimals ?? 0, digitsOf(trade.p));
      state.pending.push(trade.t);
      if (state.seeded) addTrade(trade);
    }
  }
  if (state.trades.length > MAX_TRADES) state.trades.splice(0, state.trades.length - MAX_TRADES);
  let changed = false;
  for (const a of msg.anomalies) changed = mergeAnomaly(state.anomalies, a) || changed;
  if (changed) anomalyList();
  // The server sends as soon as trades arrive (one message per frame when quiet); the page
  // does its DOM work at most once per animation frame, and the chart at its own pace.
  for (const t of msg.trades) state.tapeQueue.push(t);
  if (state.tapeQueue.length > TAPE_ROWS) state.tapeQueue.splice(0, state.tapeQueue.length - TAPE_ROWS);
  state.status = msg.status;
  if (!state.uiQueued) { state.uiQueued = true; requestAnimationFrame(panels); }
  if (mine.length || changed) schedule();
}

// The chosen symbol's 24 h ticker (recorded with --channels ...,tickers): mark, index and the
// funding rate as the exchange sent them, exact; rates shown in percent.
function tickerStrip() {
  const t = state.tickers.get(state.symbol);
  $('live-ticker').hidden = !t || t[3] === null;
  if (!t) return;
  $('live-mark').textContent = t[3] ?? '–';
  $('live-index').textContent = t[4] ?? '–';
  $('live-funding').textContent = percent(t[5]);
  $('live-pred').textContent = percent(t[6]);
}

function percent(rate) {  // "-0.000125" → "-0.0125%": the decimal point moved, exactly
  if (rate === null || rate === undefined) return '–';
  const negative = rate.startsWith('-');
  const [whole, frac = ''] = (negative ? rate.slice(1) : rate).split('.');
  const padded = frac.padEnd(2, '0');
  const units = (whole + padded.slice(0, 2)).replace(/^0+(?=\d)/, '');
  const rest = padded.slice(2).replace(/0+$/, '');
  return `${negative ? '-' : ''}${units}${rest ? `.${rest}` : ''}%`;
}

function panels() {
  state.uiQueued = false;
  tape(state.tapeQueue);
  state.tapeQueue = [];
  status(state.status);
}

function onHello(msg) {
  state.recording = msg.recording;
  if (!msg.recording) {
    $('live-off').hidden = false;
    $('book-panel').hidden = true;
    $('conn').textContent = 'not recording';
    $('st-state').textContent = 'not recording';
    return;
  }
  state.seam = msg.seam;
  state.symbols = msg.symbols;
  state.trades = [];
  state.anomalies = new Map();
  for (const a of msg.anomalies || []) mergeAnomaly(state.anomalies, a);
  anomalyList();
  if (!state.symbols.includes(state.symbol)) state.symbol = state.symbols[0] || null;
  const select = $('live-symbol');
  select.replaceChildren(...state.symbols.map((s) => new Option(s, s, false, s === state.symbol)));
  state.bookSymbols = msg.book_symbols ?? null;
  watchBook();
  status(msg.status);
  reseed();
}

// Ask for the chosen symbol's book; the server sends it at once, then as it changes.
function watchBook() {
  resetBook(state.symbol, state.bookSymbols);
  if (state.socket && state.socket.readyState === WebSocket.OPEN) {
    state.socket.send(JSON.stringify({ type: 'book', symbol: state.symbol }));
  }
}

async function reseed() {
  const run = ++state.seedRun;
  state.seeded = false;
  state.candles = new Map();
  state.last = null;
  state.decimals = null;
  if (!state.symbol) return;
  const stepMs = STEP_MS[state.step];
  const now = Date.now();
  const params = { symbol: state.symbol, step: state.step,
                   since: Math.floor(now / stepMs - SEED_CANDLES) * stepMs,
                   until: now + SEED_AHEAD_MS };
  if (state.seam !== null) params.before_offset = state.seam;
  let seed = null;
  const episodes = lakeAnomalies(state.symbol, params.since, params.until).catch(() => []);
  try {
    seed = await getJSON('/api/candles', params);
  } catch (err) {
    $('conn').textContent = `no history: ${err.message}`;  // a fresh lake: live only
  }
  const ended = await episodes;
  if (run !== state.seedRun) return;  // a newer switch overtook this one
  for (const a of ended) mergeAnomaly(state.anomalies, a);
  pruneAnomalies(state.anomalies, MAX_ANOMALIES);
  anomalyList();
  if (seed) {
    for (let i = 0; i < seed.t.length; i += 1) {
      state.candles.set(seed.t[i], { t: seed.t[i], o: seed.o[i], h: seed.h[i], l: seed.l[i],
        c: seed.c[i], bv: seed.bv[i], sv: seed.sv[i], n: seed.n[i] });
    }
    if (seed.c.length) state.last = String(seed.c[seed.c.length - 1]);
  }
  state.seeded = true;
  for (const trade of state.trades) {
    if (trade.s === state.symbol) {
      addTrade(trade);
      state.last = trade.p;
      state.decimals = Math.max(state.decimals ?? 0, digitsOf(trade.p));
    }
  }
  schedule();
}

// Digits after the point of an exact decimal string ("90015.5": 1).
const digitsOf = (text) => (text.includes('.') ? text.length - text.indexOf('.') - 1 : 0);

function addTrade(trade) {
  const stepMs = STEP_MS[state.step];
  const bucket = Math.floor(trade.t / stepMs) * stepMs;
  const price = Number(trade.p);
  const qty = Number(trade.q);
  let c = state.candles.get(bucket);
  if (!c) {
    c = { t: bucket, o: price, h: price, l: price, c: price, bv: 0, sv: 0, n: 0 };
    state.candles.set(bucket, c);
  }
  c.h = Math.max(c.h, price);
  c.l = Math.min(c.l, price);
  c.c = price;
  if (trade.side === 'b') c.bv += qty; else c.sv += qty;
  c.n += 1;
}

function schedule() {
  if (state.dirty) return;
  state.dirty = true;
  // Leave the main thread idle at least as long as the last redraw took: a software-rendered
  // candlestick redraw costs tens of ms, and back-to-back redraws would starve clicks.
  const wait = state.lastRenderEnd + state.lastRenderMs - performance.now();
  if (wait > 0) setTimeout(() => requestAnimationFrame(render), wait);
  else requestAnimationFrame(render);
}

async function render() {
  state.dirty = false;
  const keys = [...state.candles.keys()].sort((a, b) => a - b);
  for (const k of keys.slice(0, Math.max(0, keys.length - 2 * MAX_CANDLES))) {
    state.candles.delete(k);  // keep memory bounded on a long-open page
  }
  const shown = keys.slice(-MAX_CANDLES).map((k) => state.candles.get(k));
  const cols = { t: [], o: [], h: [], l: [], c: [], bv: [], sv: [], n: [] };
  for (const candle of shown) for (const k of Object.keys(cols)) cols[k].push(candle[k]);
  const from = shown.length ? shown[0].t : -Infinity;  // markers within the drawn candles
  const anomalies = [...state.anomalies.values()]
    .filter((a) => a.symbol === state.symbol && a.ts_detect_ns / 1e6 >= from);
  // Prices at the instrument's precision (the most decimals its exact trade prices carry),
  // not plotly's SI suffixes ("90.015k").
  const decimals = state.decimals ?? decimalsOf(cols.c);
  const { data, layout } = candleFigure(cols, { anomalies, uirevision: state.step, decimals });
  const drawn = state.pending;
  state.pending = [];
  const began = performance.now();
  await Plotly.react(state.gd, data, layout, plotConfig);
  state.lastRenderEnd = performance.now();
  state.lastRenderMs = state.lastRenderEnd - began;
  state.renderMs.push(state.lastRenderMs);  // for the bench
  if (state.renderMs.length > 10000) state.renderMs.splice(0, 5000);
  const now = Date.now();  // trade timestamps are wall-clock ms too (same machine or NTP)
  for (const t of drawn) state.latencies.push(now - t);
  if (state.latencies.length > 200000) state.latencies.splice(0, 100000);
  state.renders += 1;
  $('live-last').textContent = state.last ?? '–';
  $('live-count').textContent = String(shown.length);
}

function anomalyList() {
  const mine = [...state.anomalies.values()].filter((a) => a.symbol === state.symbol);
  anomalyRows($('live-anomalies').tBodies[0], mine, ANOMALY_ROWS);
  $('live-anomaly-count').textContent = String(mine.length);
}

function tape(trades) {
  if (!trades.length) return;
  const body = $('live-tape').tBodies[0];
  const rows = trades.slice(-TAPE_ROWS).reverse().map((t) => {
    const tr = document.createElement('tr');
    tr.className = t[4] === 'b' ? 'buy' : 'sell';
    for (const [text, cls] of [[utcTime(t[1]), ''], [t[0], ''], [t[2], 'num'], [t[3], 'num']]) {
      const td = document.createElement('td');
      td.textContent = text;
      if (cls) td.className = cls;
      tr.append(td);
    }
    return tr;
  });
  body.prepend(...rows);
  while (body.rows.length > TAPE_ROWS) body.deleteRow(-1);
}

function status(s) {
  if (!s) return;
  const set = (id, text) => { $(id).textContent = text; };
  set('st-state', s.state);
  set('st-rate', s.trades_per_s === null ? '–' : s.trades_per_s.toFixed(1));
  set('st-trades', count(s.trades));
  set('st-reconnects', count(s.reconnects));
  set('st-gaps', count(s.gaps));
  set('st-rejected', count(s.rejected));
  set('st-backlog', s.spool_backlog === null ? '–' : `${count(s.spool_backlog)} frames`);
  set('st-age', age(s.last_frame_age_s));
  set('st-dropped', count(s.dropped));
}
