// Browser tests of the web console: the real sluice binary (in memory, ephemeral ports),
// Debian's chromium driven by playwright-core, kcat as the Kafka client on the other side.
// Every test checks exact outcomes (counts, keys, values, headers, offsets) through both
// the page and kcat, and saves a screenshot of its view to interop-tests/.matrix/console/
// ($INTEROP_OUT/console/ when set). Run with console/run.sh, or from run-matrix.sh.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const { chromium } = require('playwright-core');

const REPO = path.resolve(__dirname, '..', '..');
const SHOTS = path.join(process.env.INTEROP_OUT || path.join(REPO, 'interop-tests', '.matrix'), 'console');
const BIN = process.env.SLUICE_BIN
  || path.join(process.env.CARGO_TARGET_DIR || path.join(REPO, 'target'), 'debug', 'sluice');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

let broker; // { proc, kafka, http }
let browser;

// Starts `sluice serve` and resolves with its addresses from the JSON ready line on stdout.
function startBroker() {
  return new Promise((resolve, reject) => {
    const proc = spawn(BIN, ['serve', '--memory', '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const log = [];
    const timer = setTimeout(() => reject(new Error('no ready line within 20 s:\n' + log.join('\n'))), 20000);
    proc.on('error', reject);
    proc.on('exit', (code) => reject(new Error(`sluice exited (${code}) before it was ready:\n${log.join('\n')}`)));
    proc.stderr.on('data', (d) => log.push(String(d)));
    readline.createInterface({ input: proc.stdout }).on('line', (line) => {
      log.push(line);
      if (!line.startsWith('{')) return;
      let ready;
      try { ready = JSON.parse(line); } catch { return; }
      if (ready.sluice !== 'ready') return;
      clearTimeout(timer);
      resolve({ proc, kafka: ready.kafka, http: `http://${ready.http}` });
    });
  });
}

function kcat(args, input) {
  const run = spawnSync('kcat', ['-b', broker.kafka, ...args], { input, encoding: 'utf8', timeout: 60000 });
  assert.equal(run.status, 0, `kcat ${args.join(' ')} failed: ${run.stderr}`);
  return run.stdout;
}

// Produces `lines` ("key:value") to partition 0 of `topic`, each with `headers`.
function produce(topic, lines, headers = []) {
  kcat(['-P', '-t', topic, '-p', '0', '-K', ':', ...headers.flatMap((h) => ['-H', h])], lines.join('\n') + '\n');
}

// The records of partition 0 from `offset`, as "offset|key|value|headers" lines.
function consume(topic, offset, count) {
  return kcat(['-C', '-t', topic, '-p', '0', '-o', String(offset), '-c', String(count), '-e', '-f', '%o|%k|%s|%h\n']).trim().split('\n');
}

async function api(method, url, body) {
  const response = await fetch(broker.http + url, { method, headers: { 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

async function createTopic(name, partitions = 1) {
  const created = await api('POST', '/ui/api/topics', { name, partitions });
  assert.equal(created.status, 201, JSON.stringify(created.body));
}

async function page(hash) {
  const p = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  p.on('pageerror', (e) => { throw e; });
  await p.goto(`${broker.http}/ui#${hash}`);
  return p;
}

async function shot(p, name) {
  await p.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

const text = (p, sel) => p.locator(sel).first().textContent();

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  broker = await startBroker();
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
});

after(async () => {
  if (browser) await browser.close();
  if (broker) broker.proc.kill('SIGTERM');
});

test('1,000 records produced with kcat appear in the live tail as exactly 1,000', async () => {
  await createTopic('tail');
  const p = await page('/tail/tail?partition=0');
  await p.waitForFunction(() => document.querySelector('#tail-status')?.textContent === 'live');
  produce('tail', Array.from({ length: 1000 }, (_, i) => `k${i}:v${i}`));
  await p.waitForFunction(() => document.querySelector('#tail-count')?.textContent === '1000', null, { timeout: 30000 });
  // Nothing more comes, and nothing was dropped or repeated: the newest row is offset 999.
  await p.waitForTimeout(1000);
  assert.equal(await text(p, '#tail-count'), '1000');
  assert.equal(await text(p, '#tail tbody tr .offset'), '999');
  assert.equal(await text(p, '#tail tbody tr .key'), 'k999');
  assert.equal(await p.locator('#tail tbody tr').count(), 200, 'the page keeps the last 200 rows');
  await shot(p, 'tail');
  await p.close();
});

test('a JSON value is pretty-printed, raw on request, and binary shown as hex or base64', async () => {
  await createTopic('browse');
  const value = { order: 17, items: [{ sku: 'a', qty: 2 }], paid: true };
  produce('browse', [`json:${JSON.stringify(value)}`]);
  const binary = await api('POST', '/ui/api/topics/browse/records', { partition: 0, key: { text: 'bin' }, value: { base64: '/wCAAQ==' } });
  assert.deepEqual(binary.body, { partition: 0, offset: 1 });
  let p = await page('/browse/browse?partition=0&mode=offset&offset=0');
  const row = (o) => p.locator(`#records tr[data-offset="${o}"]`);
  await row(0).waitFor();
  assert.equal(await row(0).locator('pre.value').textContent(), JSON.stringify(value, null, 2));
  assert.equal(await row(1).locator('pre.value').textContent(), 'ff00 8001');
  await shot(p, 'browse');
  await p.close();
  p = await page('/browse/browse?partition=0&mode=offset&offset=0&raw=1&bin=base64');
  await row(0).waitFor();
  assert.equal(await row(0).locator('pre.value').textContent(), JSON.stringify(value));
  assert.equal(await row(1).locator('pre.value').textContent(), '/wCAAQ==');
  await p.close();
});

test('a header search finds the one matching record', async () => {
  await createTopic('search');
  produce('search', ['a0:x', 'a1:x', 'a2:x'], ['src=alpha']);
  produce('search', ['needle-key:found'], ['src=needle', 'other=1']);
  produce('search', ['b0:x', 'b1:x'], ['src=beta']);
  const p = await page('/browse/search');
  await p.locator('#browse-form').waitFor();
  await p.selectOption('#browse-mode', 'offset');
  await p.fill('#browse-offset', '0');
  await p.fill('#browse-header', 'src=needle');
  await p.click('#browse-form button[type=submit]');
  await p.waitForFunction(() => location.hash.includes('header=src%3Dneedle') && document.querySelector('#browse-summary'));
  await p.locator('#records').waitFor();
  assert.equal(await p.locator('#records tbody tr').count(), 1);
  assert.equal(await text(p, '#records tbody tr .offset'), '3');
  assert.equal(await text(p, '#records tbody tr pre.key'), 'needle-key');
  assert.equal(await text(p, '#records tbody tr .headers'), 'src=needleother=1');
  // The URL carries the filter: a reload shows the same.
  await p.reload();
  await p.locator('#records tbody tr').first().waitFor();
  assert.equal(await p.locator('#records tbody tr').count(), 1);
  await shot(p, 'search');
  await p.close();
});

test('a record produced from the form is read back with kcat: key, value, headers', async () => {
  await createTopic('form');
  produce('form', ['first:one']);
  const p = await page('/produce/form');
  await p.locator('#produce-form').waitFor();
  await p.fill('textarea.produce-key', 'order-42');
  await p.fill('textarea.produce-value', '{"total":99.5}');
  for (const [name, value] of [['trace-id', 'abc123'], ['source', 'console']]) {
    await p.click('#add-header');
    await p.locator('.header-row .header-name').last().fill(name);
    await p.locator('.header-row .header-value').last().fill(value);
  }
  await p.click('#produce-submit');
  await p.locator('#produced-offset').waitFor();
  assert.equal(await text(p, '#produced-offset'), '1');
  assert.deepEqual(consume('form', 1, 1), ['1|order-42|{"total":99.5}|trace-id=abc123,source=console']);
  await shot(p, 'produce');
  await p.close();
});

test('a republished record has a new offset and the same key, value and headers', async () => {
  await createTopic('again');
  produce('again', ['k-a:value-a', 'k-b:{"b":2}'], ['h1=one', 'h2=two']);
  const p = await page('/browse/again?partition=0&mode=offset&offset=0');
  await p.locator('#records tr[data-offset="1"] button.republish').click();
  await p.locator('#produce-submit').waitFor();
  assert.equal(await p.inputValue('textarea.produce-key'), 'k-b');
  await shot(p, 'republish');
  await p.click('#produce-submit');
  await p.locator('#produced-offset').waitFor();
  assert.equal(await text(p, '#produced-offset'), '2');
  const [original, copy] = consume('again', 1, 2);
  assert.equal(original, '1|k-b|{"b":2}|h1=one,h2=two');
  assert.equal(copy, '2|k-b|{"b":2}|h1=one,h2=two');
  await p.close();
});

test('an offset reset is refused while the group has members, then a kcat consumer resumes there', async () => {
  await createTopic('reset');
  produce('reset', Array.from({ length: 10 }, (_, i) => `k${i}:v${i}`));
  const group = ['-G', 'console-g', '-u', '-X', 'auto.offset.reset=earliest', '-f', '%o\n', 'reset'];
  // A member that stays: the reset must be refused with the reason.
  const member = spawn('kcat', ['-b', broker.kafka, ...group], { stdio: ['ignore', 'pipe', 'pipe'] });
  let consumed = '';
  member.stdout.on('data', (d) => { consumed += d; });
  const p = await page('/group/console-g');
  await p.waitForFunction(() => document.querySelector('#group-state-name')?.textContent === 'Stable', null, { timeout: 30000 });
  await p.waitForFunction(() => document.querySelector('#members tbody tr'));
  const refuse = async () => {
    await p.fill('#reset-topic', 'reset');
    await p.fill('#reset-partition', '0');
    await p.selectOption('#reset-to', 'offset');
    await p.fill('#reset-value', '4');
    await p.click('#reset-submit');
    await p.click('#reset-confirm-button');
  };
  await refuse();
  await p.waitForFunction(() => document.querySelector('#reset-result')?.textContent.startsWith('Refused'));
  assert.match(await text(p, '#reset-result'), /1 active member\(s\)/);
  await shot(p, 'group');
  // The member consumed everything and leaves (kcat commits and leaves on SIGTERM).
  const deadline = Date.now() + 30000;
  while (consumed.trim().split('\n').length < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(consumed.trim().split('\n').join(','), '0,1,2,3,4,5,6,7,8,9');
  await new Promise((r) => setTimeout(r, 1500)); // one auto-commit interval
  const gone = new Promise((r) => member.on('exit', r));
  member.kill('SIGTERM');
  await gone;
  await p.waitForFunction(() => document.querySelector('#group-state-name')?.textContent === 'Empty', null, { timeout: 30000 });
  await p.waitForFunction(() => document.querySelector('#offsets tbody tr .committed')?.textContent === '10');
  await refuse();
  await p.waitForFunction(() => document.querySelector('#reset-result')?.textContent.startsWith('Committed'));
  assert.equal(await text(p, '#reset-result'), 'Committed offset 4 for reset-0');
  await p.waitForFunction(() => document.querySelector('#offsets tbody tr .lag')?.textContent === '6');
  await shot(p, 'group-reset');
  await p.close();
  const resumed = kcat([...group.slice(0, -1), '-e', 'reset']).trim().split('\n');
  assert.deepEqual(resumed, ['4', '5', '6', '7', '8', '9']);
});

test('the overview, topics, topic and groups views show the broker; faults hide without the fault API', async () => {
  // Runs last (the tests run in order, one at a time): the six topics made above are there.
  let p = await page('/overview');
  await p.waitForFunction(() => document.querySelector('#ov-topics')?.textContent === '6');
  assert.equal(await text(p, '#ov-version'), require('node:fs').readFileSync(path.join(REPO, 'Cargo.toml'), 'utf8').match(/^version = "(.*)"/m)[1]);
  await shot(p, 'overview');
  await p.close();
  p = await page('/topics');
  await p.locator('#topics tr[data-topic="tail"]').waitFor();
  assert.equal(await text(p, '#topics tr[data-topic="tail"] .records'), '1000');
  await p.fill('#new-topic-name', 'made-here');
  await p.fill('#new-topic-partitions', '3');
  await p.fill('#new-topic-configs', 'retention.ms=3600000\ncleanup.policy=compact');
  await p.click('#create-topic button[type=submit]');
  await p.locator('#topics tr[data-topic="made-here"]').waitFor();
  await shot(p, 'topics');
  await p.click('#topics tr[data-topic="made-here"] .delete-topic');
  await p.click('#topics tr[data-topic="made-here"] .confirm-delete');
  await p.locator('#topics tr[data-topic="made-here"]').waitFor({ state: 'detached' });
  await p.close();

  p = await page('/topic/tail');
  await p.locator('#configs tr[data-config="retention.ms"]').waitFor();
  assert.equal(await text(p, '#partitions tr[data-partition="0"] .end'), '1000');
  const row = p.locator('#configs tr[data-config="retention.ms"]');
  await row.locator('input').fill('not-a-number');
  await row.locator('.save-config').click();
  await p.waitForFunction(() => document.querySelector('#config-message')?.textContent.includes('retention.ms'));
  await row.locator('input').fill('7200000');
  await row.locator('.save-config').click();
  await p.locator('#configs tr[data-config="retention.ms"] .unset-config').waitFor();
  const described = await api('GET', '/ui/api/topics/tail');
  assert.equal(described.body.configs.find((c) => c.name === 'retention.ms').value, '7200000');
  const faults = await fetch(broker.http + '/admin/faults');
  if (faults.status === 404) {
    assert.equal(await p.locator('#faults').count(), 0, 'no fault API: no faults panel');
  } else {
    await p.click('#fault-toggle');
    await p.waitForFunction(() => document.querySelector('#fault-status')?.textContent.startsWith('fault #'));
    const installed = await (await fetch(broker.http + '/admin/faults')).json();
    assert.equal(installed.filter((f) => f.topic === 'tail' && f.api === 'Produce' && f.action === 'error').length, 1);
    await p.click('#fault-toggle');
    await p.waitForFunction(() => document.querySelector('#fault-status')?.textContent === 'off');
  }
  await shot(p, 'topic');
  await p.close();

  p = await page('/groups');
  await p.locator('#groups tr[data-group="console-g"]').waitFor();
  assert.equal(await text(p, '#groups tr[data-group="console-g"] .lag'), '0');
  await shot(p, 'groups');
  await p.close();
});
