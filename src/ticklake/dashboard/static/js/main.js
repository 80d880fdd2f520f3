// Tabs (#live, #history, #sql, #lake): each page starts on first view; Live connects at once
// so its candles are already there when the user looks.

import { startLive } from './live.js';
import { startHistory } from './history.js';
import { startSql } from './sql.js';
import { showLake } from './lake.js';

const started = new Set();
const starters = { live: startLive, history: startHistory, sql: startSql, lake: showLake };

function show() {
  const name = (location.hash || '#live').slice(1);
  const tab = name in starters ? name : 'live';
  for (const section of document.querySelectorAll('.tab')) section.hidden = section.id !== `tab-${tab}`;
  for (const link of document.querySelectorAll('#tabs a')) {
    link.classList.toggle('active', link.dataset.tab === tab);
  }
  if (tab === 'lake') showLake();  // the catalog changes as the writer publishes: refresh
  else if (!started.has(tab)) { started.add(tab); starters[tab](); }
  // Charts drawn while hidden have no size; fit them to the now visible page.
  for (const gd of document.querySelectorAll(`#tab-${tab} .js-plotly-plot`)) Plotly.Plots.resize(gd);
}

window.addEventListener('hashchange', show);
started.add("live");
startLive();
show();
