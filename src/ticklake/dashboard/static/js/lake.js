// The Lake page: tables, rows, files, sizes, freshness; a table's schema and partitions on click.

import { age, bytes, count, el, getJSON } from './api.js';

const $ = (id) => document.getElementById(id);

export async function showLake() {
  let lake;
  try {
    lake = await getJSON('/api/lake');
  } catch (err) {
    $('lake-error').textContent = err.message;
    $('lake-error').hidden = false;
    return;
  }
  $('lake-error').hidden = true;
  $('lake-root').textContent = `lake at ${lake.root}`;
  const body = $('lake-tables').tBodies[0];
  body.replaceChildren(...lake.tables.map((t) => {
    const row = el('tr', { dataset: { table: t.name } },
      el('td', { class: 'name' }, t.name),
      el('td', { class: 'num rows' }, count(t.rows)),
      el('td', { class: 'num files' }, count(t.files)),
      el('td', { class: 'num partitions' }, count(t.partitions)),
      el('td', { class: 'num bytes' }, bytes(t.bytes)),
      el('td', { class: 'fresh' }, t.max_time ? `${t.max_time} (${age(t.age_s)})` : '–'),
      el('td', {}, t.last_modified || '–'));
    row.addEventListener('click', () => detail(t));
    return row;
  }));
}

async function detail(table) {
  const box = $('lake-detail');
  const columns = el('table', { class: 'grid schema' },
    el('thead', {}, el('tr', {}, el('th', {}, 'column'), el('th', {}, 'type'))),
    el('tbody', {}, ...table.columns.map((c) => el('tr', {}, el('td', {}, c.name), el('td', {}, c.type)))));
  box.replaceChildren(el('h3', {}, `${table.name}: schema`), columns,
    el('h3', {}, `${table.name}: partitions`), el('p', { class: 'muted' }, 'loading…'));
  let parts;
  try {
    parts = await getJSON(`/api/lake/${encodeURIComponent(table.name)}/partitions`);
  } catch (err) {
    box.lastChild.textContent = err.message;
    return;
  }
  const keys = table.partition_keys;
  const grid = el('table', { class: 'grid partitions' },
    el('thead', {}, el('tr', {}, ...keys.map((k) => el('th', {}, k)),
      ...['rows', 'files', 'size', 'newest row'].map((h) => el('th', {}, h)))),
    el('tbody', {}, ...parts.partitions.map((p) => el('tr', {},
      ...keys.map((k) => el('td', {}, p.values[k])),
      el('td', { class: 'num' }, count(p.rows)), el('td', { class: 'num' }, count(p.files)),
      el('td', { class: 'num' }, bytes(p.bytes)), el('td', {}, p.max_time || '–')))));
  const shown = parts.count > parts.partitions.length
    ? `${parts.partitions.length} newest of ${parts.count}` : `${parts.count}`;
  box.lastChild.replaceWith(el('p', { class: 'muted' }, `${shown} partitions`), grid);
}
