// The console's views. Each draws into `root` from the route's argument and query, and
// returns a function that stops whatever it started (polls, the live tail's stream).
import { $, el, api, go, every, fmtBytes, fmtTime, route } from './app.js';

const enc = encodeURIComponent;

// ---- bytes as shown: JSON pretty-printed (unless raw), text, or binary as hex / base64 ----

function hexOf(base64) {
  const bin = atob(base64);
  let out = '';
  for (let i = 0; i < bin.length; i++) out += bin.charCodeAt(i).toString(16).padStart(2, '0') + (i % 2 ? ' ' : '');
  return out.trim();
}

function prettyJson(text) {
  const t = text.trim();
  if (!(t.startsWith('{') || t.startsWith('['))) return null;
  try { return JSON.stringify(JSON.parse(t), null, 2); } catch { return null; }
}

function shownBytes(b, opts, cls) {
  if (b === null || b === undefined) return el('span', { class: 'muted' }, 'null');
  if (b.text !== null && b.text !== undefined) {
    const pretty = opts.raw ? null : prettyJson(b.text);
    if (pretty !== null) return el('pre', { class: cls + ' json' }, pretty);
    return el('pre', { class: cls + ' text' }, b.text);
  }
  const shown = opts.bin === 'base64' ? b.base64 : hexOf(b.base64);
  return el('pre', { class: cls + ' binary', title: 'binary (' + (opts.bin === 'base64' ? 'base64' : 'hex') + ')' }, shown);
}

function headerText(h) {
  if (h.value === null) return h.name + ' (null)';
  return h.name + '=' + (h.value.text !== null ? h.value.text : 'base64:' + h.value.base64);
}

function recordRow(r, opts, actions) {
  return el('tr', { class: 'record', 'data-offset': r.offset, 'data-partition': r.partition },
    el('td', { class: 'num partition' }, r.partition),
    el('td', { class: 'num offset' }, r.offset),
    el('td', { class: 'timestamp' }, fmtTime(r.timestamp)),
    el('td', {}, shownBytes(r.key, opts, 'key')),
    el('td', {}, shownBytes(r.value, opts, 'value')),
    el('td', { class: 'headers' }, r.headers.map((h) => el('span', { class: 'hdr' }, headerText(h)))),
    actions ? el('td', {}, actions(r)) : null);
}

const recordHead = (withActions) => el('thead', {}, el('tr', {},
  ['Partition', 'Offset', 'Timestamp', 'Key', 'Value', 'Headers'].map((h) => el('th', {}, h)),
  withActions ? el('th', {}, '') : null));

// ---- overview ----

function card(label, value, id) {
  return el('div', { class: 'card' }, el('div', { class: 'label' }, label), el('div', { class: 'value', id }, value));
}

async function overview(root) {
  root.append(el('h1', {}, 'Overview'));
  const cards = el('div', { class: 'cards' });
  root.append(cards);
  let last = null;
  return every(2000, async () => {
    const o = await api('/ui/api/overview');
    const rate = (key) => {
      if (!last) return '…';
      const seconds = (o.now_ms - last.now_ms) / 1000;
      return seconds > 0 ? ((o[key] - last[key]) / seconds).toFixed(1) : '…';
    };
    const up = Math.floor(o.uptime_ms / 1000);
    cards.replaceChildren(
      card('Version', o.version, 'ov-version'),
      card('Uptime', `${Math.floor(up / 3600)}h ${Math.floor(up / 60) % 60}m ${up % 60}s`, 'ov-uptime'),
      card('Topics', o.topics, 'ov-topics'),
      card('Partitions', o.partitions, 'ov-partitions'),
      card('Consumer groups', o.groups, 'ov-groups'),
      card('Records', o.records, 'ov-records'),
      card('Stored', fmtBytes(o.size_bytes), 'ov-size'),
      card('Connections', o.connections, 'ov-connections'),
      card('Records in /s', rate('high_watermark_sum'), 'ov-records-rate'),
      card('Produce requests /s', rate('produce_requests'), 'ov-produce-rate'),
      card('Fetch requests /s', rate('fetch_requests'), 'ov-fetch-rate'),
      card('Bytes in /s', rate('received_bytes'), 'ov-in-rate'),
      card('Bytes out /s', rate('sent_bytes'), 'ov-out-rate'));
    last = o;
  });
}

// ---- topics ----

function parseConfigs(text) {
  const configs = {};
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const at = line.indexOf('=');
    if (at < 1) throw new Error(`config "${line}" is not key=value`);
    configs[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return configs;
}

// A two-step delete: the button shows a confirmation with the topic's name first.
function deleteButton(name, after) {
  const box = el('span');
  const ask = el('button', { class: 'danger delete-topic', 'data-topic': name, onclick: () => {
    box.replaceChildren(el('span', { class: 'confirm' }, `Delete topic ${name} and all its records? `,
      el('button', { class: 'danger confirm-delete', onclick: async () => {
        try { await api(`/ui/api/topics/${enc(name)}`, { method: 'DELETE' }); after(); } catch (e) { box.replaceChildren(el('span', { class: 'error' }, e.message)); }
      } }, 'Delete'),
      el('button', { onclick: () => box.replaceChildren(ask) }, 'Cancel')));
  } }, 'Delete…');
  box.append(ask);
  return box;
}

async function topics(root) {
  root.append(el('h1', {}, 'Topics'));
  const message = el('p', { id: 'topic-message' });
  const name = el('input', { id: 'new-topic-name', required: true, placeholder: 'name' });
  const partitions = el('input', { id: 'new-topic-partitions', type: 'number', min: 1, value: '1' });
  const configs = el('textarea', { id: 'new-topic-configs', rows: 2, cols: 40, placeholder: 'retention.ms=86400000' });
  root.append(el('form', { class: 'bar', id: 'create-topic', onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      await api('/ui/api/topics', { method: 'POST', body: { name: name.value, partitions: Number(partitions.value), configs: parseConfigs(configs.value) } });
      message.className = 'ok'; message.textContent = `Created ${name.value}`;
      name.value = ''; configs.value = '';
      await load();
    } catch (e) { message.className = 'error'; message.textContent = e.message; }
  } }, el('label', {}, 'Name', name), el('label', {}, 'Partitions', partitions),
  el('label', {}, 'Configs (key=value lines)', configs), el('button', { class: 'primary', type: 'submit' }, 'Create topic')));
  root.append(message);
  const table = el('table', { id: 'topics' });
  root.append(table);
  async function load() {
    const list = await api('/ui/api/topics');
    table.replaceChildren(el('thead', {}, el('tr', {}, ['Topic', 'Partitions', 'Records', 'Size', 'Retention', 'Cleanup policy', ''].map((h) => el('th', {}, h)))),
      el('tbody', {}, list.map((t) => el('tr', { 'data-topic': t.name },
        el('td', {}, el('a', { href: `#/topic/${enc(t.name)}` }, t.name)),
        el('td', { class: 'num' }, t.partitions),
        el('td', { class: 'num records' }, t.records),
        el('td', { class: 'num' }, fmtBytes(t.size_bytes)),
        el('td', {}, t.retention_ms < 0 ? 'forever' : `${t.retention_ms} ms`, t.retention_bytes < 0 ? '' : ` / ${fmtBytes(t.retention_bytes)}`),
        el('td', {}, t.cleanup_policy),
        el('td', {}, el('a', { href: `#/browse/${enc(t.name)}` }, 'Messages'), ' · ', el('a', { href: `#/tail/${enc(t.name)}` }, 'Live tail'), ' · ',
          el('a', { href: `#/produce/${enc(t.name)}` }, 'Produce'), ' ', deleteButton(t.name, load))))));
  }
  await load();
}

// The faults panel: a switch per topic installing an error fault on its Produce, through the
// admin listener's fault API. Hidden when the broker has no fault API (404).
async function faultsPanel(topic) {
  let faults;
  try { faults = await api('/admin/faults'); } catch { return null; }
  if (!Array.isArray(faults)) return null;
  const panel = el('section', { id: 'faults' }, el('h2', {}, 'Faults'));
  const error = el('select', { id: 'fault-error' }, ['NOT_LEADER_OR_FOLLOWER', 'REQUEST_TIMED_OUT', 'UNKNOWN_TOPIC_OR_PARTITION', 'KAFKA_STORAGE_ERROR'].map((e) => el('option', { value: e }, e)));
  const toggle = el('input', { type: 'checkbox', id: 'fault-toggle' });
  const status = el('span', { id: 'fault-status', class: 'muted' });
  const mine = (list) => list.find((f) => f.api === 'Produce' && f.topic === topic && f.action === 'error');
  const show = (list) => {
    const f = mine(list);
    toggle.checked = !!f;
    if (f) { error.value = f.error || error.value; status.textContent = `fault #${f.id} on, fired ${f.fired ?? 0} time(s)`; } else status.textContent = 'off';
  };
  toggle.addEventListener('change', async () => {
    try {
      if (toggle.checked) await api('/admin/faults', { method: 'POST', body: { api: 'Produce', topic, action: 'error', error: error.value } });
      else { const f = mine(await api('/admin/faults')); if (f) await api(`/admin/faults/${f.id}`, { method: 'DELETE' }); }
      show(await api('/admin/faults'));
    } catch (e) { status.textContent = e.message; status.className = 'error'; }
  });
  show(faults);
  panel.append(el('div', { class: 'bar' }, el('label', { class: 'switch' }, toggle, 'Fail this topic\'s Produce requests with'), error, status));
  return panel;
}

async function topic(root, name) {
  const t = await api(`/ui/api/topics/${enc(name)}`);
  root.append(el('h1', {}, `Topic ${t.name}`),
    el('p', {}, el('a', { href: `#/browse/${enc(name)}` }, 'Messages'), ' · ', el('a', { href: `#/tail/${enc(name)}` }, 'Live tail'), ' · ',
      el('a', { href: `#/produce/${enc(name)}` }, 'Produce a record'), ' ', deleteButton(name, () => go('topics'))),
    el('p', { class: 'muted' }, `${t.records} records, ${fmtBytes(t.size_bytes)}, cleanup.policy ${t.cleanup_policy}, id ${t.id}`),
    el('h2', {}, 'Partitions'),
    el('table', { id: 'partitions' }, el('thead', {}, el('tr', {}, ['Partition', 'Start offset', 'End offset', 'Records', 'Size'].map((h) => el('th', {}, h)))),
      el('tbody', {}, t.partition_list.map((p) => el('tr', { 'data-partition': p.partition },
        el('td', { class: 'num' }, el('a', { href: `#/browse/${enc(name)}?partition=${p.partition}&mode=offset&offset=${p.start_offset}` }, p.partition)),
        el('td', { class: 'num start' }, p.start_offset), el('td', { class: 'num end' }, p.end_offset),
        el('td', { class: 'num' }, p.end_offset - p.start_offset), el('td', { class: 'num' }, fmtBytes(p.size_bytes)))))));
  const faults = await faultsPanel(name);
  if (faults) root.append(faults);
  const message = el('p', { id: 'config-message' });
  root.append(el('h2', {}, 'Configs'), message);
  const save = async (configs) => {
    try {
      await api(`/ui/api/topics/${enc(name)}/configs`, { method: 'PUT', body: { configs } });
      render();
    } catch (e) { message.className = 'error'; message.textContent = e.message; }
  };
  const render = async () => {
    const fresh = await api(`/ui/api/topics/${enc(name)}`);
    table.replaceChildren(el('thead', {}, el('tr', {}, ['Config', 'Value', 'Source', ''].map((h) => el('th', {}, h)))),
      el('tbody', {}, fresh.configs.map((c) => {
        const input = el('input', { value: c.value, 'data-config': c.name, size: 30 });
        return el('tr', { 'data-config': c.name, title: c.documentation },
          el('td', {}, c.name), el('td', {}, input), el('td', { class: 'muted' }, c.source),
          el('td', {}, el('button', { class: 'save-config', onclick: () => save({ [c.name]: input.value }) }, 'Save'),
            c.is_set ? el('button', { class: 'unset-config', onclick: () => save({ [c.name]: null }) }, 'Default') : null));
      })));
  };
  const table = el('table', { id: 'configs' });
  root.append(table);
  await render();
}

// ---- message browser ----

async function browse(root, name, query) {
  const q = Object.fromEntries(query.entries());
  const opts = { raw: q.raw === '1', bin: q.bin === 'base64' ? 'base64' : 'hex' };
  const mode = q.mode || 'last';
  root.append(el('h1', {}, 'Messages of ', el('a', { href: `#/topic/${enc(name)}` }, name)));
  const field = (id, label, value, attrs = {}) => el('label', {}, label, el('input', { id, value: value ?? '', ...attrs }));
  const modeSelect = el('select', { id: 'browse-mode' }, [['last', 'Last N'], ['offset', 'From offset'], ['timestamp', 'From timestamp']].map(([v, l]) => el('option', { value: v, selected: v === mode }, l)));
  const form = el('form', { class: 'bar', id: 'browse-form', onsubmit: (ev) => {
    ev.preventDefault();
    const v = (id) => $('#' + id, form).value.trim();
    let ts = v('browse-timestamp');
    if (ts && !/^\d+$/.test(ts)) ts = String(Date.parse(ts));
    go('browse', name, { partition: v('browse-partition'), mode: modeSelect.value, offset: v('browse-offset'), timestamp: ts, last: v('browse-last'),
      key: v('browse-key'), value: v('browse-value'), header: v('browse-header'), raw: $('#browse-raw', form).checked ? '1' : '', bin: $('#browse-bin', form).value });
  } },
  field('browse-partition', 'Partition', q.partition || '0', { type: 'number', min: 0, size: 4 }),
  el('label', {}, 'Start', modeSelect),
  field('browse-offset', 'Offset', q.offset, { type: 'number', min: 0 }),
  field('browse-timestamp', 'Timestamp (ms or ISO)', q.timestamp),
  field('browse-last', 'N', q.last || '50', { type: 'number', min: 1, max: 500 }),
  field('browse-key', 'Key contains', q.key), field('browse-value', 'Value contains', q.value),
  field('browse-header', 'Header name=value', q.header),
  el('label', {}, 'Binary as', el('select', { id: 'browse-bin' }, ['hex', 'base64'].map((b) => el('option', { value: b, selected: b === opts.bin }, b)))),
  el('label', { class: 'switch' }, el('input', { type: 'checkbox', id: 'browse-raw', checked: opts.raw }), 'Raw JSON'),
  el('button', { class: 'primary', type: 'submit' }, 'Show'));
  root.append(form);
  const params = new URLSearchParams({ partition: q.partition || '0', limit: '100' });
  if (mode === 'offset') params.set('offset', q.offset || '0');
  else if (mode === 'timestamp' && q.timestamp) params.set('timestamp', q.timestamp);
  else params.set('last', q.last || '50');
  for (const k of ['key', 'value', 'header']) if (q[k]) params.set(k, q[k]);
  const page = await api(`/ui/api/topics/${enc(name)}/records?${params}`);
  const summary = el('p', { id: 'browse-summary', class: 'muted' }, `${page.records.length} record(s) shown; partition holds offsets ${page.start_offset} to ${page.end_offset}; scanned up to ${page.next_offset}`);
  root.append(summary);
  const republish = (r) => el('button', { class: 'republish', onclick: () => go('produce', name, { from_partition: r.partition, from_offset: r.offset }) }, 'Republish…');
  root.append(el('table', { id: 'records' }, recordHead(true), el('tbody', {}, page.records.map((r) => recordRow(r, opts, republish)))));
  if (page.next_offset < page.end_offset) {
    root.append(el('p', {}, el('button', { id: 'browse-next', onclick: () => go('browse', name, { ...q, mode: 'offset', offset: page.next_offset }) }, 'Next page')));
  }
}

// ---- live tail ----

const TAIL_ROWS = 200;

async function tail(root, name, query) {
  const partition = query.get('partition') || '';
  root.append(el('h1', {}, 'Live tail of ', el('a', { href: `#/topic/${enc(name)}` }, name)));
  const count = el('span', { id: 'tail-count' }, '0');
  const status = el('span', { id: 'tail-status' }, 'connecting');
  root.append(el('p', {}, 'Status: ', status, ' · records received: ', count,
    ' · ', el('a', { href: `#/browse/${enc(name)}` }, 'Browse')));
  const body = el('tbody');
  root.append(el('table', { id: 'tail' }, recordHead(false), body));
  const params = new URLSearchParams({ from: 'end' });
  if (partition !== '') params.set('partition', partition);
  const source = new EventSource(`/ui/api/topics/${enc(name)}/tail?${params}`);
  let received = 0;
  source.addEventListener('ready', () => { status.textContent = 'live'; });
  source.addEventListener('record', (ev) => {
    received += 1;
    count.textContent = String(received);
    body.prepend(recordRow(JSON.parse(ev.data), { raw: false, bin: 'hex' }));
    while (body.childElementCount > TAIL_ROWS) body.lastElementChild.remove();
  });
  source.onerror = () => { status.textContent = source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting'; };
  return () => source.close();
}

// ---- produce and republish ----

function bytesField(cls, label, b) {
  const isText = !b || (b.text !== null && b.text !== undefined);
  const value = b === null || b === undefined ? '' : (isText ? b.text : b.base64);
  const input = el('textarea', { class: cls, rows: 3, cols: 50 });
  input.value = value;
  const encoding = el('select', { class: cls + '-encoding' }, ['text', 'base64'].map((e) => el('option', { value: e, selected: (isText ? 'text' : 'base64') === e }, e)));
  const isNull = el('input', { type: 'checkbox', class: cls + '-null', checked: b === null });
  const read = () => (isNull.checked ? null : { [encoding.value]: input.value });
  return { node: el('label', {}, label, input, el('span', { class: 'bar' }, encoding, el('span', { class: 'switch' }, isNull, 'null'))), read };
}

function headerRow(h) {
  const name = el('input', { class: 'header-name', value: h ? h.name : '', placeholder: 'name' });
  const isText = !h || h.value === null || h.value.text !== null;
  const value = el('input', { class: 'header-value', value: h && h.value ? (isText ? h.value.text : h.value.base64) : '', placeholder: 'value' });
  const encoding = el('select', { class: 'header-encoding' }, ['text', 'base64'].map((e) => el('option', { value: e, selected: (isText ? 'text' : 'base64') === e }, e)));
  const row = el('div', { class: 'bar header-row' }, name, value, encoding, el('button', { type: 'button', onclick: () => row.remove() }, 'Remove'));
  row.read = () => ({ name: name.value, value: h && h.value === null && value.value === '' ? null : { [encoding.value]: value.value } });
  return row;
}

async function produce(root, name, query) {
  let from = null;
  if (query.get('from_offset') !== null) {
    const p = query.get('from_partition') || '0';
    const page = await api(`/ui/api/topics/${enc(name)}/records?partition=${enc(p)}&offset=${enc(query.get('from_offset'))}&limit=1`);
    from = page.records.find((r) => String(r.offset) === query.get('from_offset')) || null;
    if (!from) throw new Error(`no record at offset ${query.get('from_offset')} of partition ${p}`);
  }
  root.append(el('h1', {}, from ? `Republish record ${from.partition}@${from.offset} of ` : 'Produce to ', el('a', { href: `#/topic/${enc(name)}` }, name)));
  if (from) root.append(el('p', { class: 'muted' }, 'A new record at a new offset with the same key, value and headers, unless you edit them.'));
  const partition = el('input', { id: 'produce-partition', type: 'number', min: 0, value: String(from ? from.partition : 0) });
  const key = bytesField('produce-key', 'Key', from ? from.key : undefined);
  const value = bytesField('produce-value', 'Value', from ? from.value : undefined);
  const headers = el('div', { id: 'produce-headers' }, (from ? from.headers : []).map(headerRow));
  const result = el('p', { id: 'produce-result' });
  root.append(el('form', { id: 'produce-form', onsubmit: async (ev) => {
    ev.preventDefault();
    const body = { partition: Number(partition.value), key: key.read(), value: value.read(), headers: [...headers.children].map((r) => r.read()).filter((h) => h.name) };
    try {
      const done = await api(`/ui/api/topics/${enc(name)}/records`, { method: 'POST', body });
      result.className = 'ok';
      result.replaceChildren(`Produced to partition ${done.partition} at offset `, el('span', { id: 'produced-offset' }, done.offset), ' · ',
        el('a', { href: `#/browse/${enc(name)}?partition=${done.partition}&mode=offset&offset=${done.offset}` }, 'show it'));
    } catch (e) { result.className = 'error'; result.textContent = e.message; }
  } }, el('div', { class: 'bar' }, el('label', {}, 'Partition', partition)), key.node, value.node,
  el('h2', {}, 'Headers'), headers,
  el('p', {}, el('button', { type: 'button', id: 'add-header', onclick: () => headers.append(headerRow(null)) }, 'Add header')),
  el('button', { class: 'primary', type: 'submit', id: 'produce-submit' }, from ? 'Republish' : 'Produce')), result);
}

// ---- consumer groups ----

async function groups(root) {
  root.append(el('h1', {}, 'Consumer groups'));
  const table = el('table', { id: 'groups' });
  root.append(table);
  return every(1000, async () => {
    const list = await api('/ui/api/groups');
    table.replaceChildren(el('thead', {}, el('tr', {}, ['Group', 'State', 'Members', 'Lag'].map((h) => el('th', {}, h)))),
      el('tbody', {}, list.length ? list.map((g) => el('tr', { 'data-group': g.group },
        el('td', {}, el('a', { href: `#/group/${enc(g.group)}` }, g.group)), el('td', {}, g.state),
        el('td', { class: 'num' }, g.members), el('td', { class: 'num lag' }, g.lag))) : el('tr', {}, el('td', { colspan: 4, class: 'muted' }, 'No groups yet'))));
  });
}

async function group(root, name) {
  root.append(el('h1', {}, `Consumer group ${name}`));
  const state = el('p', { id: 'group-state' });
  const members = el('table', { id: 'members' });
  const offsets = el('table', { id: 'offsets' });
  // The reset form sits outside the tables the poll redraws, so typing survives a refresh.
  const topic = el('input', { id: 'reset-topic', placeholder: 'topic' });
  const partition = el('input', { id: 'reset-partition', type: 'number', min: 0, value: '0', size: 4 });
  const to = el('select', { id: 'reset-to' }, [['offset', 'Offset'], ['earliest', 'Start'], ['latest', 'End'], ['timestamp', 'Timestamp']].map(([v, l]) => el('option', { value: v }, l)));
  const target = el('input', { id: 'reset-value', placeholder: 'offset, or timestamp (ms or ISO)' });
  const confirmBox = el('div', { id: 'reset-confirm' });
  const result = el('p', { id: 'reset-result' });
  const body = () => {
    const b = { topic: topic.value.trim(), partition: Number(partition.value), to: to.value };
    if (to.value === 'offset') b.offset = Number(target.value);
    if (to.value === 'timestamp') b.timestamp = /^\d+$/.test(target.value.trim()) ? Number(target.value) : Date.parse(target.value);
    return b;
  };
  const form = el('form', { class: 'bar', id: 'reset-form', onsubmit: (ev) => {
    ev.preventDefault();
    const b = body();
    const where = b.to === 'offset' ? `offset ${b.offset}` : b.to === 'timestamp' ? `the first record at or after ${fmtTime(b.timestamp)}` : b.to === 'earliest' ? 'the start' : 'the end';
    confirmBox.replaceChildren(el('div', { class: 'confirm' }, `Reset group ${name} on ${b.topic}-${b.partition} to ${where}? Its consumers resume there.`, ' ',
      el('button', { class: 'danger', id: 'reset-confirm-button', type: 'button', onclick: async () => {
        confirmBox.replaceChildren();
        try {
          const done = await api(`/ui/api/groups/${enc(name)}/reset`, { method: 'POST', body: b });
          result.className = 'ok'; result.textContent = `Committed offset ${done.offset} for ${done.topic}-${done.partition}`;
        } catch (e) { result.className = 'error'; result.textContent = `Refused: ${e.message}`; }
      } }, 'Confirm reset'), ' ', el('button', { type: 'button', onclick: () => confirmBox.replaceChildren() }, 'Cancel')));
  } }, el('label', {}, 'Topic', topic), el('label', {}, 'Partition', partition), el('label', {}, 'To', to), el('label', {}, 'Value', target),
  el('button', { type: 'submit', id: 'reset-submit' }, 'Reset offset…'));
  root.append(state, el('h2', {}, 'Members'), members, el('h2', {}, 'Offsets'), offsets, el('h2', {}, 'Reset an offset'),
    el('p', { class: 'muted' }, 'Only while the group has no members: running consumers would commit over it.'), form, confirmBox, result);
  return every(1000, async () => {
    let g;
    try { g = await api(`/ui/api/groups/${enc(name)}`); } catch (e) { state.textContent = e.message; return; }
    state.replaceChildren('State: ', el('b', { id: 'group-state-name' }, g.state), ` · protocol ${g.protocol_type || '-'} ${g.protocol || ''} · ${g.members.length} member(s)`);
    members.replaceChildren(el('thead', {}, el('tr', {}, ['Member', 'Client id', 'Host', 'Assignment'].map((h) => el('th', {}, h)))),
      el('tbody', {}, g.members.map((m) => el('tr', {}, el('td', {}, m.member_id), el('td', {}, m.client_id), el('td', {}, m.host),
        el('td', {}, m.assignment.map((a) => `${a.topic}: ${a.partitions.join(', ')}`).join('; '))))));
    offsets.replaceChildren(el('thead', {}, el('tr', {}, ['Topic', 'Partition', 'Committed', 'End offset', 'Lag', ''].map((h) => el('th', {}, h)))),
      el('tbody', {}, g.offsets.map((o) => el('tr', { 'data-topic': o.topic, 'data-partition': o.partition },
        el('td', {}, o.topic), el('td', { class: 'num' }, o.partition), el('td', { class: 'num committed' }, o.committed),
        el('td', { class: 'num' }, o.end_offset ?? '-'), el('td', { class: 'num lag' }, o.lag ?? '-'),
        el('td', {}, el('button', { class: 'pick-reset', onclick: () => { topic.value = o.topic; partition.value = String(o.partition); } }, 'Reset…'))))));
  });
}

export const views = { overview, topics, topic, browse, tail, produce, groups, group };
