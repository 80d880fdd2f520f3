// The History page: any symbol and range from the lake. The server picks the bucket so the
// page never gets more than ~BUCKETS candles; zooming or panning refetches the visible range,
// which therefore comes back at a finer resolution. The lake's detector episodes in the range
// are drawn as markers (hover for details), fetched beside the candles.
//
// When the lake holds the symbol's order book, its mid is drawn over the candles and its
// spread in a pane of its own, at the start of every candle (/api/book_top, the same window
// and step). The candles do not wait for it: they are drawn, then the book joins them. A
// symbol without books draws no book and says so; a window too long to ask the book for
// says to zoom in.
//
// When the lake holds the symbol's 24 h tickers, the funding rate and the predicted one go in
// a pane of their own, per candle (/api/funding: the last update in each), the same way.

import { getJSON, parseUtc, utcInput } from './api.js';
import { lakeAnomalies } from './anomalies.js';
import { candleFigure, decimalsOf, plotConfig } from './chart.js';

const BUCKETS = 1200;
const state = { ranges: {}, symbol: null, since: null, until: null, gd: null, run: 0,
                timer: null, loads: 0, last: null, anomalies: [], candles: null, book: null,
                bookLoads: 0, funding: null, fundingLoads: 0 };
window.__ticklake = Object.assign(window.__ticklake || {}, { history: state });

const $ = (id) => document.getElementById(id);

export async function startHistory() {
  state.gd = $('hist-chart');
  $('hist-load').addEventListener('click', () => {
    load(parseUtc($('hist-since').value), parseUtc($('hist-until').value));
  });
  $('hist-symbol').addEventListener('change', (e) => { state.symbol = e.target.value; preset(86400000); });
  for (const button of $('hist-presets').querySelectorAll('button')) {
    button.addEventListener('click', () => preset(button.dataset.span));
  }
  let symbols;
  try {
    symbols = await getJSON('/api/symbols');
  } catch (err) {
    return fail(err);
  }
  state.ranges = symbols.ranges;
  if (!symbols.symbols.length) return fail(new Error('the lake holds no trades yet'));
  state.symbol = symbols.symbols[0];
  $('hist-symbol').replaceChildren(...symbols.symbols.map((s) => new Option(s, s)));
  await preset(86400000);
}

function preset(span) {
  const range = state.ranges[state.symbol];
  if (!range) return undefined;
  const until = range.until_ms;
  const since = span === 'all' ? range.since_ms : Math.max(range.since_ms, until - Number(span));
  return load(since, until, { fit: true });
}

async function load(since, until, { keepView = false, fit = false } = {}) {
  if (!Number.isFinite(since) || !Number.isFinite(until) || since >= until) {
    return fail(new Error('pick a start before the end'));
  }
  const run = ++state.run;
  const started = performance.now();
  const params = { symbol: state.symbol, since: Math.floor(since), until: Math.ceil(until),
                   buckets: BUCKETS };
  let c;
  let anomalies;
  const episodes = lakeAnomalies(state.symbol, since, until).catch((err) => err);
  const book = getJSON('/api/book_top', params).catch((err) => err);
  const funding = getJSON('/api/funding', params).catch((err) => err);
  try {
    c = await getJSON('/api/candles', params);
    anomalies = await episodes;
  } catch (err) {
    return fail(err);
  }
  if (run !== state.run) return undefined;
  if (anomalies instanceof Error) return fail(new Error(`anomalies: ${anomalies.message}`));
  if (fit && c.t.length && c.t[c.t.length - 1] + c.step_ms - c.t[0] < (until - since) / 4) {
    // The data covers a small part of the range (a day partition holding a few minutes, say):
    // show just that part, at the finer resolution it allows.
    return load(c.t[0], Math.min(until, c.t[c.t.length - 1] + c.step_ms));
  }
  $('hist-error').hidden = true;
  state.since = since;
  state.until = until;
  $('hist-since').value = utcInput(since);
  $('hist-until').value = utcInput(until);
  // A new symbol or range resets the view; a refetch after zoom/pan keeps the user's view.
  state.last = keepView ? state.last : `${state.symbol}:${since}:${until}`;
  state.candles = c;
  state.anomalies = anomalies;
  state.book = null;
  state.funding = null;
  await draw(keepView ? undefined : [since, until]);
  if (!state.gd.dataset.wired) {
    state.gd.on('plotly_relayout', onRelayout);
    state.gd.dataset.wired = '1';
  }
  state.loads += 1;
  if (state.firstDrawnAt === undefined) state.firstDrawnAt = performance.now();  // for the bench
  const marks = anomalies.length ? ` · ${anomalies.length} anomalies` : '';
  const info = `${c.t.length} candles of ${c.step}${marks}`;
  $('hist-info').textContent = `${info} · ${Math.round(performance.now() - started)} ms`;
  state.gd.dataset.step = c.step;

  const b = await book;
  if (run !== state.run) return c;
  let note = ' · no order book in this window';
  if (b instanceof Error) note = ` · order book: ${b.message}`;
  else if (b.limited) note = ` · zoom to ${b.max_span_ms / 60000} min or less for the order book`;
  else if (b.t.length) {
    state.book = b;
    note = ` · mid/spread at ${b.t.length} instants`;
    await draw(keepView ? undefined : [since, until]);
  }
  state.bookLoads += 1;
  $('hist-info').textContent = `${info}${note} · ${Math.round(performance.now() - started)} ms`;

  const f = await funding;
  if (run !== state.run) return c;
  if (f instanceof Error) note += ` · funding: ${f.message}`;
  else if (f.t.length) {
    state.funding = f;
    note += ` · funding at ${f.t.length} candles`;
    await draw(keepView ? undefined : [since, until]);
  }
  state.fundingLoads += 1;
  $('hist-info').textContent = `${info}${note} · ${Math.round(performance.now() - started)} ms`;
  return c;
}

// The candles, the anomalies and the book (if any) of the window loaded last.
async function draw(range) {
  const { candles: c, book, funding } = state;
  const decimals = book ? book.price_decimals : decimalsOf(c.c);
  const { data, layout } = candleFigure(c, { anomalies: state.anomalies, uirevision: state.last,
                                             book, decimals, funding });
  layout.xaxis.range = range;
  await Plotly.react(state.gd, data, layout, plotConfig);
}

function onRelayout(change) {
  let range = null;
  if ('xaxis.range[0]' in change) range = [change['xaxis.range[0]'], change['xaxis.range[1]']];
  else if (Array.isArray(change['xaxis.range'])) range = change['xaxis.range'];
  else if (change['xaxis.autorange']) range = [state.since, state.until];
  if (!range) return;
  clearTimeout(state.timer);  // wait for the drag or wheel to settle
  state.timer = setTimeout(() => load(parseUtc(range[0]), parseUtc(range[1]), { keepView: true }), 250);
}

function fail(err) {
  $('hist-error').textContent = err.message;
  $('hist-error').hidden = false;
  return undefined;
}
