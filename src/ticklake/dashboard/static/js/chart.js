// One candlestick figure for Live, History and SQL: price candles on top, buy and sell volume
// stacked below, optional anomaly markers, and optionally (History) the book's mid over the
// candles with the spread in a pane of its own. x values are epoch milliseconds (plotly reads
// them as UTC on a date axis). With `decimals`, prices are shown with that many (the
// instrument's tick precision) instead of plotly's SI suffixes ("90.1k").

import { utcStamp } from './api.js';

const BUY = '#26a69a';
const SELL = '#ef5350';
const MID = '#4fa3ff';
const FUNDING = '#c792ea';

export function candleFigure(c, { anomalies = [], uirevision = 'keep', title = '', book = null,
                                  decimals = null, funding = null } = {}) {
  const hasBook = Boolean(book && book.t.length);
  const hasFunding = Boolean(funding && funding.t.length);
  // y domains: the volume at the bottom, a pane each for spread and funding, price on top
  const panes = Number(hasBook) + Number(hasFunding);
  const pane = (i) => [0.25 + 0.19 * i, 0.37 + 0.19 * i];
  const price = panes ? [0.46 + 0.19 * (panes - 1), 1] : [0.27, 1];
  const data = [
    {
      type: 'candlestick', name: 'price', x: c.t, open: c.o, high: c.h, low: c.l, close: c.c,
      increasing: { line: { color: BUY } }, decreasing: { line: { color: SELL } },
      customdata: c.n, hoverinfo: 'x+y',
    },
    { type: 'bar', name: 'buy volume', x: c.t, y: c.bv, yaxis: 'y2', marker: { color: BUY } },
    { type: 'bar', name: 'sell volume', x: c.t, y: c.sv, yaxis: 'y2', marker: { color: SELL } },
  ];
  const shapes = [];
  if (anomalies.length) {
    data.push({
      type: 'scatter', mode: 'markers', name: 'anomalies',
      x: anomalies.map((a) => a.ts_detect_ns / 1e6),
      y: anomalies.map((a) => a.price_after),
      ids: anomalies.map((a) => a.anomaly_id),
      marker: {
        size: 14, color: '#ffb300', line: { color: '#000', width: 1 },
        symbol: anomalies.map((a) => (a.direction === 'up' ? 'triangle-up' : 'triangle-down')),
      },
      hovertext: anomalies.map(describe), hoverinfo: 'text',
    });
    for (const a of anomalies) {
      shapes.push({
        type: 'rect', xref: 'x', yref: 'paper', y0: price[0] - 0.02, y1: 1, layer: 'below',
        x0: a.ts_start_ns / 1e6, x1: (a.ts_end_ns || a.ts_detect_ns) / 1e6,
        fillcolor: 'rgba(255,179,0,0.12)', line: { width: 0 },
      });
    }
  }
  const axis = { gridcolor: '#2a313a', zerolinecolor: '#2a313a' };
  const mids = hasBook ? book.mid : [];
  const prices = priceAxis(Math.min(...c.l, ...mids), Math.max(...c.h, ...mids), decimals, 8);
  if (hasBook) data.push(...bookTraces(book, decimals));
  const layout = {
    title: title ? { text: title, font: { size: 14 } } : undefined,
    uirevision, barmode: 'stack', showlegend: false, shapes, dragmode: 'pan',
    margin: { l: 60, r: 16, t: title ? 32 : 8, b: 32 },
    paper_bgcolor: '#111418', plot_bgcolor: '#111418', font: { color: '#d8dde3' },
    xaxis: { ...axis, type: 'date', rangeslider: { visible: false } },
    yaxis: { ...axis, ...prices, domain: price, title: { text: 'price' } },
    yaxis2: { ...axis, domain: [0, panes ? 0.19 : 0.22], title: { text: 'volume' } },
  };
  if (hasBook) {
    layout.yaxis3 = { ...axis, ...priceAxis(0, Math.max(...book.spread), decimals, 3),
                      domain: pane(0), title: { text: 'spread' }, rangemode: 'tozero' };
  }
  if (hasFunding) {
    data.push(...fundingTraces(funding));
    layout.yaxis4 = { ...axis, domain: pane(panes - 1), title: { text: 'funding %' },
                      ticksuffix: '%', zeroline: true, zerolinecolor: '#56606b' };
  }
  return { data, layout };
}

// The funding rate (and the predicted one, dashed) in percent, held until the next update; a
// break where a bucket has none (tickers not recorded then), never a line across it.
function fundingTraces(funding) {
  const x = [];
  const rate = [];
  const predicted = [];
  funding.t.forEach((t, i) => {
    if (i && t - funding.t[i - 1] > funding.step_ms) {
      x.push(funding.t[i - 1] + funding.step_ms); rate.push(null); predicted.push(null);
    }
    x.push(t);
    rate.push(percent(funding.funding_rate[i]));
    predicted.push(percent(funding.pred_funding_rate[i]));
  });
  return [
    { type: 'scatter', mode: 'lines', name: 'funding', x, y: rate, yaxis: 'y4',
      line: { color: FUNDING, width: 1.2, shape: 'hv' },
      hovertemplate: 'funding %{y:.4f}%<extra></extra>' },
    { type: 'scatter', mode: 'lines', name: 'predicted funding', x, y: predicted, yaxis: 'y4',
      line: { color: FUNDING, width: 1, dash: 'dot', shape: 'hv' },
      hovertemplate: 'predicted %{y:.4f}%<extra></extra>' },
  ];
}

// A rate as percent, rounded to the rate's 1e-8 grid (1e-6 %) so 0.0001 reads 0.01, not
// 0.010000000000000002.
function percent(rate) {
  return rate === null ? null : Math.round(rate * 1e8) / 1e6;
}

// Prices at the instrument's precision: labels with `decimals` digits, a round step between
// them (1, 2 or 5 × 10^k) of at least one tick, so no two read the same, and at most `most`
// of them over [lo, hi]. Without `decimals`, plotly's own.
function priceAxis(lo, hi, decimals, most) {
  if (decimals === null) return {};
  let dtick = 10 ** -decimals;
  for (let k = 0; (hi - lo) / dtick > most; k += 1) dtick *= k % 3 === 1 ? 2.5 : 2;
  const format = `.${decimals}f`;
  return { tickformat: format, hoverformat: format, dtick, tick0: 0 };
}

// Mid over the candles, spread below them; a break where the book is unknown (no row: a gap
// in the recorded book), never a line across it.
function bookTraces(book, decimals) {
  const x = [];
  const mid = [];
  const spread = [];
  const bp = [];
  book.t.forEach((t, i) => {
    if (i && t - book.t[i - 1] > book.step_ms) {  // instants without a book: a break
      x.push(book.t[i - 1] + book.step_ms); mid.push(null); spread.push(null); bp.push(null);
    }
    x.push(t); mid.push(book.mid[i]); spread.push(book.spread[i]); bp.push(book.spread_bp[i]);
  });
  // A mid between two ticks needs one more digit than the tick.
  const d = decimals ?? 8;
  const midDigits = mid.every((v) => v === null || Number(v.toFixed(d)) === v) ? d : d + 1;
  return [
    { type: 'scatter', mode: 'lines', name: 'mid', x, y: mid, line: { color: MID, width: 1.2 },
      hovertemplate: `mid %{y:.${midDigits}f}<extra></extra>` },
    { type: 'scatter', mode: 'lines', name: 'spread', x, y: spread, yaxis: 'y3', customdata: bp,
      line: { color: MID, width: 1, shape: 'hv' },
      hovertemplate: `spread %{y:.${d}f} (%{customdata:.2f} bp)<extra></extra>` },
  ];
}

// Digits after the point of the longest of `values` (doubles from exact decimals print
// exactly: 90000.1 is "90000.1").
export function decimalsOf(values) {
  let most = 0;
  for (const v of values) {
    const text = String(v);
    if (text.includes('e')) return null;  // too small or large for a fixed format
    if (text.includes('.')) most = Math.max(most, text.length - text.indexOf('.') - 1);
  }
  return most;
}

// Plotly renders a subset of HTML in hover text: anything read from the lake goes in as text.
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function describe(a) {
  const lines = [
    `<b>${esc(a.kind)} ${esc(a.direction)}</b> (${esc(a.phase || 'end')}) ${esc(a.symbol)}`,
    `move ${a.move_bp.toFixed(1)} bp (${a.move_price.toFixed(2)}) over ${a.horizon_s} s`,
    `price ${a.price_before} → ${a.price_after}`,
    `start ${utcStamp(a.ts_start_ns / 1e6)}`,
    `detected ${utcStamp(a.ts_detect_ns / 1e6)}`,
    `end ${a.ts_end_ns ? utcStamp(a.ts_end_ns / 1e6) : '(open)'}`,
    `score |z| ${a.score.toFixed(2)}, ${a.trades} trades, intensity z ${a.intensity_z.toFixed(2)}`,
    `imbalance ${a.imbalance.toFixed(2)}, largest ${a.largest_qty}`,
    `id ${esc(a.anomaly_id)}`,
  ];
  return lines.join('<br>');
}

export const plotConfig = { responsive: true, displaylogo: false, scrollZoom: true };
