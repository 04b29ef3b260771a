// The console's shell: the hash router and the helpers every view uses. A view's state lives
// in the URL (#/view/arg?query), so a filtered view can be shared and reloads the same. A
// view returns a cleanup function that stops its polls and streams when the page leaves it:
// nothing runs on the broker unless a page is looking.
import { views } from './views.js';

export const $ = (sel, root = document) => root.querySelector(sel);

// Builds an element: el('td', {class: 'num'}, 'text', child, ...).
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'value') node.value = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// Calls the console API; throws an Error with the broker's reason on a refusal.
export async function api(path, options = {}) {
  const init = { method: options.method || 'GET', headers: {} };
  if (options.body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(options.body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = text; }
  if (!response.ok) {
    const error = new Error((body && body.error) || text || response.statusText);
    error.status = response.status;
    throw error;
  }
  return body;
}

// The current route: view name, its argument and its query.
export function route() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [path, search = ''] = hash.split('?');
  const [name, ...rest] = path.split('/');
  return { name: name || 'overview', arg: rest.map(decodeURIComponent).join('/'), query: new URLSearchParams(search) };
}

// Goes to a view; `replace` keeps the browser history to one entry (filters typed in).
export function go(name, arg, query, replace = false) {
  let hash = '#/' + name + (arg ? '/' + encodeURIComponent(arg) : '');
  const search = query ? new URLSearchParams(Object.entries(query).filter(([, v]) => v !== '' && v !== undefined && v !== null)).toString() : '';
  if (search) hash += '?' + search;
  if (replace) { history.replaceState(null, '', hash); render(); } else location.hash = hash;
}

// Repeats `fn` every `ms` while the view is shown; returns the stop function.
export function every(ms, fn) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    try { await fn(); } catch (e) { console.warn(e); }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

export function fmtBytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + units[i];
}

export function fmtTime(ms) {
  return ms < 0 ? '-' : new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

let cleanup = null;

export async function render() {
  if (cleanup) { try { cleanup(); } catch (e) { console.warn(e); } cleanup = null; }
  const { name, arg, query } = route();
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.classList.toggle('active', a.dataset.nav === name || (a.dataset.nav === 'topics' && ['topic', 'browse', 'tail', 'produce'].includes(name)) || (a.dataset.nav === 'groups' && name === 'group'));
  }
  const root = $('#view');
  root.replaceChildren();
  const view = views[name] || views.overview;
  try {
    cleanup = (await view(root, arg, query)) || null;
  } catch (e) {
    root.append(el('p', { class: 'error' }, e.message));
  }
}

window.addEventListener('hashchange', render);
render();
