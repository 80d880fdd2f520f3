// One candlestick figure for Live, History and SQL: price candles on top, buy and sell volume
// stacked below, optional anomaly markers. x values are epoch milliseconds (plotly reads them
// as UTC on a date axis).

import { utcStamp } from './api.js';

const BUY = '#26a69a';
const SELL = '#ef5350';

export function candleFigure(c, { anomalies = [], uirevision = 'keep', title = '' } = {}) {
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
        type: 'rect', xref: 'x', yref: 'paper', y0: 0.25, y1: 1, layer: 'below',
        x0: a.ts_start_ns / 1e6, x1: (a.ts_end_ns || a.ts_detect_ns) / 1e6,
        fillcolor: 'rgba(255,179,0,0.12)', line: { width: 0 },
      });
    }
  }
  const axis = { gridcolor: '#2a313a', zerolinecolor: '#2a313a' };
  const layout = {
    title: title ? { text: title, font: { size: 14 } } : undefined,
    uirevision, barmode: 'stack', showlegend: false, shapes, dragmode: 'pan',
    margin: { l: 60, r: 16, t: title ? 32 : 8, b: 32 },
    paper_bgcolor: '#111418', plot_bgcolor: '#111418', font: { color: '#d8dde3' },
    xaxis: { ...axis, type: 'date', rangeslider: { visible: false } },
    yaxis: { ...axis, domain: [0.27, 1], title: { text: 'price' } },
    yaxis2: { ...axis, domain: [0, 0.22], title: { text: 'volume' } },
  };
  return { data, layout };
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
