// The Live page's order book for the chosen symbol: a ladder, a depth chart and the spread
// over time, from the book frames /api/live pushes (the server's mirror of the recorded book,
// its top levels at most twenty times a second; see dashboard/books.py).
//
// Prices and sizes arrive as exact decimal text; spread, mid and cumulative sizes are computed
// exactly (BigInt) for the ladder and as numbers only to plot. A "resyncing" frame (the book
// cannot be trusted until the next snapshot) empties the ladder and the depth chart: a stale
// or wrong book is never shown.

import { plotConfig } from './chart.js';

const LADDER_ROWS = 12;      // per side
const SPREAD_POINTS = 3000;  // kept for the spread chart (~2.5 min at 20 frames a second)
const CHART_EVERY_MS = 250;  // the charts redraw at most this often
const BID = '#26a69a';
const ASK = '#ef5350';

const book = {
  symbol: null, recorded: null, frame: null, drawn: null, spreads: { t: [], bp: [] },
  ladderQueued: false, chartsQueued: false, lastChartEnd: 0, lastChartMs: 0, redraws: 0,
  laddered: null, shown: [],  // the frame on the ladder; [seq, Date.now()] as each went up
};
window.__ticklake = Object.assign(window.__ticklake || {}, { book });

const $ = (id) => document.getElementById(id);

// Another symbol (or a new hello): forget the old book. `recorded` lists the symbols whose
// books the recording follows, or is null when the server does not know (then the first
// frame tells).
export function resetBook(symbol, recorded) {
  book.symbol = symbol;
  book.recorded = recorded;
  book.frame = null;
  book.spreads = { t: [], bp: [] };
  $('book-symbol').textContent = symbol || '';
  queueLadder();
  queueCharts();
}

export function onBook(frame) {
  if (frame.symbol !== book.symbol) return;  // a frame of the symbol before a switch
  book.frame = frame;
  if (frame.state === 'live' && frame.bids.length && frame.asks.length) {
    const bid = Number(frame.bids[0][0]);
    const ask = Number(frame.asks[0][0]);
    book.spreads.t.push(frame.ts_ms);
    book.spreads.bp.push(((ask - bid) / ((ask + bid) / 2)) * 1e4);
    if (book.spreads.t.length > SPREAD_POINTS) {
      book.spreads.t.splice(0, book.spreads.t.length - SPREAD_POINTS);
      book.spreads.bp.splice(0, book.spreads.bp.length - SPREAD_POINTS);
    }
  }
  queueLadder();
  queueCharts();
}

function queueLadder() {
  if (book.ladderQueued) return;
  book.ladderQueued = true;
  requestAnimationFrame(() => { book.ladderQueued = false; ladder(); });
}

function queueCharts() {
  if (book.chartsQueued) return;
  book.chartsQueued = true;
  // As the candles do: idle at least as long as the last redraw took, and not more often
  // than CHART_EVERY_MS, so a busy book never starves the page.
  const since = performance.now() - book.lastChartEnd;
  const wait = Math.max(CHART_EVERY_MS, book.lastChartMs) - since;
  setTimeout(() => requestAnimationFrame(charts), Math.max(0, wait));
}

function note(text) {
  $('book-note').hidden = !text;
  $('book-note').textContent = text || '';
  const body = $('book-body');
  const shown = body.hidden;
  body.hidden = Boolean(text) && !book.spreads.t.length;
  if (shown && !body.hidden) {  // plotly sizes a chart when drawn: fit them to the panel
    for (const gd of [$('book-depth'), $('book-spreads')]) if (gd.data) Plotly.Plots.resize(gd);
    queueCharts();
  }
}

function ladder() {
  const { frame, symbol } = book;
  const body = $('book-ladder').tBodies[0];
  const live = frame && frame.state === 'live';
  $('book-state').textContent = frame ? frame.state : '';
  if (!frame) {
    const known = book.recorded === null || book.recorded.includes(symbol);
    note(!symbol ? '' : known
      ? `No order book for ${symbol} yet: it shows at the exchange's first snapshot.`
      : `Order books are not recorded for ${symbol} (record with --channels trades,book).`);
  } else {
    note(live ? '' : `Resyncing the ${symbol} book: ${frame.reason}. It shows again at the ` +
      'next snapshot.');
  }
  body.replaceChildren(...(live ? ladderRows(frame) : []));
  if (live && frame !== book.laddered) {  // for the bench: frame to screen
    book.shown.push([frame.seq, Date.now()]);
    if (book.shown.length > 20000) book.shown.splice(0, 10000);
  }
  book.laddered = frame;
  const top = live ? touch(frame) : null;
  $('book-spread').textContent = top ? top.spread : '–';
  $('book-spread-bp').textContent = top ? top.bp : '–';
  $('book-mid').textContent = top ? top.mid : '–';
  $('book-time').textContent = live ? new Date(frame.ts_ms).toISOString().slice(11, 23) : '–';
}

// Asks above (best ask lowest), bids below (best bid highest): price, size, cumulative size.
function ladderRows(frame) {
  const asks = withTotals(frame.asks.slice(0, LADDER_ROWS), 'ask').reverse();
  const bids = withTotals(frame.bids.slice(0, LADDER_ROWS), 'bid');
  return [...asks, ...bids].map((level) => {
    const tr = document.createElement('tr');
    tr.className = `${level.side === 'bid' ? 'buy' : 'sell'}${level.best ? ' best' : ''}`;
    tr.dataset.side = level.side;
    for (const text of [level.price, level.qty, level.total]) {
      const td = document.createElement('td');
      td.className = 'num';
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  });
}

function withTotals(levels, side) {
  const scale = Math.max(0, ...levels.map(([, q]) => decimals(q)));
  let total = 0n;
  return levels.map(([price, qty], i) => {
    total += units(qty, scale);
    return { side, price, qty, total: text(total, scale), best: i === 0 };
  });
}

// The best bid and ask: spread (price and bp) and mid, exact.
function touch(frame) {
  if (!frame.bids.length || !frame.asks.length) return null;
  const [bid, ask] = [frame.bids[0][0], frame.asks[0][0]];
  const scale = Math.max(decimals(bid), decimals(ask));
  const [b, a] = [units(bid, scale), units(ask, scale)];
  const mid = (a + b) % 2n === 0n ? text((a + b) / 2n, scale) : text((a + b) * 5n, scale + 1);
  const bp = (Number(a - b) / (Number(a + b) / 2)) * 1e4;
  return { spread: text(a - b, scale), mid, bp: bp.toFixed(2) };
}

const decimals = (s) => (s.includes('.') ? s.length - s.indexOf('.') - 1 : 0);

function units(s, scale) {  // "12.5" at scale 3 → 12500n
  const [whole, frac = ''] = s.split('.');
  return BigInt(whole + frac.padEnd(scale, '0'));
}

function text(value, scale) {  // the shortest exact decimal text of value / 10**scale
  const digits = (value < 0n ? -value : value).toString().padStart(scale + 1, '0');
  const body = scale ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}`.replace(/\.?0+$/, '')
    : digits;
  return (value < 0n ? '-' : '') + body;
}

async function charts() {
  book.chartsQueued = false;
  if ($('book-body').hidden) return;  // drawn when shown (a hidden chart has no size)
  const began = performance.now();
  const { frame } = book;
  const live = frame && frame.state === 'live';
  await Plotly.react($('book-depth'), live ? depthTraces(frame) : [], depthLayout, plotConfig);
  await Plotly.react($('book-spreads'), [{
    // copies: Plotly.react redraws only data arrays it has not seen
    type: 'scatter', mode: 'lines', name: 'spread', x: [...book.spreads.t], y: [...book.spreads.bp],
    line: { color: '#4fa3ff', width: 1, shape: 'hv' },
  }], spreadLayout, plotConfig);
  book.drawn = frame;  // what the charts show (tests wait for it)
  book.lastChartEnd = performance.now();
  book.lastChartMs = book.lastChartEnd - began;
  book.redraws += 1;
}

// Cumulative size against price: bids from the best down, asks from the best up, as steps.
function depthTraces(frame) {
  const side = (levels) => {
    let total = 0;
    return levels.map(([p, q]) => { total += Number(q); return [Number(p), total]; });
  };
  const bids = side(frame.bids).reverse();  // ascending price, as plotted
  const asks = side(frame.asks);
  const trace = (name, points, color, shape) => ({
    type: 'scatter', mode: 'lines', name, x: points.map((p) => p[0]), y: points.map((p) => p[1]),
    line: { color, width: 1.5, shape }, fill: 'tozeroy', hoverinfo: 'x+y',
  });
  return [trace('bids', bids, BID, 'vh'), trace('asks', asks, ASK, 'hv')];
}

const axis = { gridcolor: '#2a313a', zerolinecolor: '#2a313a' };
const base = {
  showlegend: false, margin: { l: 56, r: 12, t: 28, b: 32 }, paper_bgcolor: '#111418',
  plot_bgcolor: '#111418', font: { color: '#d8dde3', size: 11 },
};
const depthLayout = {
  ...base, title: { text: 'depth (cumulative size)', font: { size: 12 } }, uirevision: 'depth',
  xaxis: { ...axis, exponentformat: 'none' }, yaxis: { ...axis, rangemode: 'tozero' },
};
const spreadLayout = {
  ...base, title: { text: 'spread (bp)', font: { size: 12 } }, uirevision: 'spread',
  xaxis: { ...axis, type: 'date' }, yaxis: { ...axis, rangemode: 'tozero' },
};
