'use strict'
// kafkajs with SCRAM-SHA-256 over SASL_SSL against Sluice, and a wrong password refused.
// The broker's certificates are made at run time with the `openssl` command (a CA and a server
// certificate for 127.0.0.1), so no key is committed.

const assert = require('node:assert/strict')
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { after, before, test } = require('node:test')
const { Kafka, logLevel } = require('kafkajs')
const h = require('./helpers')

const USER = 'alice'
const PASSWORD = 'alice-secret'

function makeCertificates (dir) {
  const openssl = args => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Sluice test CA'])
  openssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1'])
  fs.writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext'])
}

let broker
let certs

before(async () => {
  certs = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-tls-'))
  makeCertificates(certs)
  broker = await h.startBroker('security', {
    args: port => ['serve', '--memory', '--http', 'none',
      '--listener', `SASL_SSL://127.0.0.1:${port}`,
      '--tls-cert', path.join(certs, 'server.pem'),
      '--tls-key', path.join(certs, 'server.key'),
      '--sasl-user', `${USER}:${PASSWORD}`]
  })
})

after(async () => {
  if (broker) await broker.stop()
  if (certs) fs.rmSync(certs, { recursive: true, force: true })
})

function client (password) {
  return new Kafka({
    clientId: 'sluice-interop-kafkajs-security',
    brokers: [broker.bootstrap],
    logLevel: logLevel.NOTHING,
    ssl: { ca: [fs.readFileSync(path.join(certs, 'ca.pem'))] },
    sasl: { mechanism: 'scram-sha-256', username: USER, password },
    retry: { initialRetryTime: 100, retries: 2 }
  })
}

test('kafkajs produces and consumes with SCRAM-SHA-256 over SASL_SSL', async () => {
  const kafka = client(PASSWORD)
  const topic = h.unique('node-sec')
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
  await admin.disconnect()
  const producer = kafka.producer()
  await producer.connect()
  const sent = [0, 1, 2].map(i => ({ key: `key-${i}`, value: `value-${i}` }))
  const reports = await producer.send({ topic, messages: sent })
  await producer.disconnect()
  assert.deepEqual(reports.map(r => [r.partition, r.errorCode, r.baseOffset]), [[0, 0, '0']])

  const consumer = kafka.consumer({ groupId: h.unique('node-sec-group'), maxWaitTimeInMs: 100 })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const received = []
  await consumer.run({
    eachMessage: async ({ message }) => {
      received.push([message.offset, message.key.toString(), message.value.toString()])
    }
  })
  await h.waitFor('three records', () => received.length >= 3)
  await h.sleep(h.QUIET_MS)
  await consumer.disconnect()
  assert.deepEqual(received, sent.map((r, i) => [String(i), r.key, r.value]))
})

test('kafkajs with a wrong password is refused', async () => {
  const admin = client('not-the-password').admin()
  await assert.rejects(admin.connect(), error => {
    assert.equal(error.name, 'KafkaJSSASLAuthenticationError', error.message)
    assert.match(error.message, /Authentication failed during authentication due to invalid credentials/)
    return true
  })
})
