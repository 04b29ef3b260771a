'use strict'
// Shared set-up for the Node.js client interop tests.
//
// `startBroker()` runs the Sluice binary once per test file (node --test gives each file its
// own process): `$SLUICE_BIN serve --memory --listen 127.0.0.1:<free port> --http
// 127.0.0.1:<free port>` (the HTTP admin API, for the fault tests)
// (`SLUICE_BIN` defaults to target/debug/sluice in the repository), waits until the port
// accepts, and stops it in `after` (SIGTERM, then SIGKILL) or when the process exits. The
// broker's pid is written to $INTEROP_LOG_DIR/broker-node-<pid>.pid so that run-matrix.sh can
// stop it even if this process is killed.
//
// The expectations every client must meet (records with keys and headers, the group split and
// resume) live here, so each client's test file only drives its own API.

const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const REPO = path.resolve(__dirname, '..', '..')
const TIMEOUT_MS = 30_000
const QUIET_MS = 1_500
// The broker's minimum session timeout; its initial rebalance delay is 0.
const SESSION_TIMEOUT_MS = 6_000
const HEARTBEAT_INTERVAL_MS = 1_000
const GROUP_PARTITIONS = 4
const FIRST_ROUND_PER_PARTITION = 10
const SECOND_ROUND_PER_PARTITION = 5

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

function freePort () {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

function accepts (port) {
  return new Promise(resolve => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => { socket.destroy(); resolve(false) })
  })
}

// Our environment without SLUICE_* variables: the broker reads every SLUICE_<KEY> as a config
// key and refuses unknown ones, SLUICE_BIN included.
function brokerEnv () {
  const env = { NO_COLOR: '1' }
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SLUICE_')) env[k] = v
  return env
}

// `options.args(port)`: the broker's arguments instead of the default `--listen` ones (the
// broker must listen on 127.0.0.1:`port`, which is waited for).
async function startBroker (name, options = {}) {
  const bin = process.env.SLUICE_BIN || path.join(REPO, 'target', 'debug', 'sluice')
  if (!fs.existsSync(bin)) {
    throw new Error(`no broker binary at ${bin}: run \`cargo build -p sluice --bin sluice\``)
  }
  const port = await freePort()
  const httpPort = await freePort()
  const logDir = process.env.INTEROP_LOG_DIR || os.tmpdir()
  fs.mkdirSync(logDir, { recursive: true })
  const logPath = path.join(logDir, `broker-node-${name}.log`)
  const log = fs.openSync(logPath, 'w')
  // Custom arguments bring no admin listener unless they say so: only the Kafka port is
  // waited for then.
  const args = options.args
    ? options.args(port)
    : ['serve', '--memory', '--listen', `127.0.0.1:${port}`, '--http', `127.0.0.1:${httpPort}`]
  const child = spawn(bin, args, {
    stdio: ['ignore', log, log],
    env: brokerEnv()
  })
  fs.closeSync(log)
  const pidFile = path.join(logDir, `broker-node-${process.pid}.pid`)
  fs.writeFileSync(pidFile, `${child.pid}\n`)
  let exited = null
  child.on('exit', code => { exited = code })
  const killOnExit = () => { if (exited === null) child.kill('SIGKILL') }
  process.on('exit', killOnExit)

  const deadline = Date.now() + TIMEOUT_MS
  while (!(await accepts(port)) || (!options.args && !(await accepts(httpPort)))) {
    if (exited !== null) {
      throw new Error(`sluice exited with ${exited} before accepting; log:\n${fs.readFileSync(logPath, 'utf8')}`)
    }
    if (Date.now() > deadline) throw new Error(`sluice did not accept on 127.0.0.1:${port}`)
    await sleep(50)
  }

  return {
    bootstrap: `127.0.0.1:${port}`,
    http: options.args ? null : `http://127.0.0.1:${httpPort}`,
    async stop () {
      if (exited === null) {
        const done = new Promise(resolve => child.once('exit', resolve))
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
        await done
        clearTimeout(timer)
      }
      process.removeListener('exit', killOnExit)
      fs.rmSync(pidFile, { force: true })
    }
  }
}

let counter = 0
function unique (prefix) {
  return `${prefix}-${process.pid}-${counter++}`
}

// Waits for `check()` to be truthy, polling; fails with `what` after TIMEOUT_MS.
async function waitFor (what, check, timeoutMs = TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(20)
  }
}

// (a) Records with keys and headers: [key, value, headers] with headers an ordered list of
// [name, value] pairs (a name may repeat). null key / null value are allowed.
const b = s => Buffer.from(s, 'utf8')
const KEYED_RECORDS = [
  [b('key-0'), b('value-0'), [['trace-id', b('abc-123')], ['attempt', b('1')]]],
  [b('key-1'), b('value-1'), [['dup', b('first')], ['dup', b('second')], ['dup', b('third')]]],
  [Buffer.from([0x00, 0xff, ...b('binary-key')]), Buffer.from([...Array(256).keys()]), [['bin', Buffer.from([...Array(256).keys()].reverse())]]],
  [b('key-3'), Buffer.alloc(0), [['empty', Buffer.alloc(0)]]],
  [b('ключ-ü'), b('значение-€'), [['ünïcode-name', b('välue-✓')]]],
  [null, b('no key'), [['only-header', b('x')]]],
  [b('tombstone-key'), null, [['deleted', b('yes')]]],
  [b('key-7'), b('no headers'), []]
]

const show = x => (x === null || x === undefined) ? String(x) : Buffer.isBuffer(x) ? `0x${x.toString('hex')}` : JSON.stringify(x)
function norm (records) {
  return records.map(([k, v, h]) => [show(k), show(v), (h || []).map(([n, hv]) => [String(n), show(hv)])])
}

// `received` as [key, value, headers-pairs] must equal `expected` exactly, in order.
// Empty buffers and null are told apart; an empty key and an absent key are not (null).
function assertSameRecords (expected, received) {
  assert.deepStrictEqual(norm(received), norm(expected))
}

function compressibleValues (count) {
  return Array.from({ length: count }, (_, i) => b(`message ${String(i).padStart(5, '0')} ` + 'sluice '.repeat(40)))
}

// (b) The group of two over four partitions, and the restart.
function round (tag, perPartition) {
  const out = {}
  for (let p = 0; p < GROUP_PARTITIONS; p++) {
    out[p] = Array.from({ length: perPartition }, (_, i) => `${tag}-p${p}-${i}`)
  }
  return out
}
const firstRound = () => round('round1', FIRST_ROUND_PER_PARTITION)
const secondRound = () => round('round2', SECOND_ROUND_PER_PARTITION)
const total = r => Object.values(r).reduce((n, vs) => n + vs.length, 0)

function isSplit (assignments) {
  const [a, c] = assignments.map(x => new Set(x || []))
  if (!a.size || !c.size) return false
  for (const p of a) if (c.has(p)) return false
  return a.size + c.size === GROUP_PARTITIONS
}

function assertSplit (assignments) {
  assert.ok(isSplit(assignments), `expected two disjoint non-empty shares of ${GROUP_PARTITIONS} partitions, got ${JSON.stringify(assignments)}`)
}

// received: [[partition, value-string], ...] of one member, which owns `assigned`.
function assertMemberReceived (member, assigned, received, produced) {
  const byPartition = {}
  for (const [p, v] of received) (byPartition[p] ||= []).push(v)
  for (const p of Object.keys(byPartition)) {
    assert.ok(assigned.includes(Number(p)), `member ${member} received from partition ${p} but owns ${assigned}`)
  }
  for (const p of assigned) {
    assert.deepStrictEqual(byPartition[p] || [], produced[p], `member ${member}, partition ${p}`)
  }
}

function assertResumed (received) {
  const committed = new Set(Object.values(firstRound()).flat())
  const redelivered = received.filter(([, v]) => committed.has(v)).map(([, v]) => v)
  assert.deepStrictEqual(redelivered, [], 'committed records delivered again after restart')
  const byPartition = {}
  for (const [p, v] of received) (byPartition[p] ||= []).push(v)
  assert.deepStrictEqual(byPartition, secondRound(), 'after restart expected exactly the second round')
}

module.exports = {
  freePort,
  TIMEOUT_MS,
  QUIET_MS,
  SESSION_TIMEOUT_MS,
  HEARTBEAT_INTERVAL_MS,
  GROUP_PARTITIONS,
  KEYED_RECORDS,
  sleep,
  startBroker,
  unique,
  waitFor,
  assertSameRecords,
  compressibleValues,
  firstRound,
  secondRound,
  total,
  isSplit,
  assertSplit,
  assertMemberReceived,
  assertResumed
}
