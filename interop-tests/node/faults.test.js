'use strict'
// Fault injection (`/admin/faults`) seen from kafkajs: an injected, retriable Produce error is
// retried through and the record lands once; a rule on another topic leaves this one alone; a
// Fetch delay shows in the first record's latency; a closed connection is reconnected.

const assert = require('node:assert/strict')
const { after, before, test } = require('node:test')
const { Kafka, logLevel } = require('kafkajs')
const h = require('./helpers')

let broker
let kafka

before(async () => {
  broker = await h.startBroker('faults')
  kafka = new Kafka({
    clientId: 'sluice-interop-faults',
    brokers: [broker.bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { initialRetryTime: 50, retries: 5 }
  })
})

after(async () => {
  if (broker) await broker.stop()
})

async function call (method, path, body) {
  const answer = await fetch(broker.http + path, {
    method,
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await answer.text()
  return { status: answer.status, body: text ? JSON.parse(text) : null }
}

async function createTopic (topic) {
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
  await admin.disconnect()
}

async function endOffset (topic) {
  const admin = kafka.admin()
  await admin.connect()
  const offsets = await admin.fetchTopicOffsets(topic)
  await admin.disconnect()
  return offsets.find(o => o.partition === 0).high
}

test('a Produce error fault with count 2 is retried through and the record lands once', async () => {
  const topic = h.unique('node-fault')
  const other = h.unique('node-fault-other')
  await createTopic(topic)
  await createTopic(other)
  const added = await call('POST', '/admin/faults', {
    api: 'Produce', topic, action: 'error', error: 'NOT_LEADER_OR_FOLLOWER', count: 2
  })
  assert.equal(added.status, 201, JSON.stringify(added.body))
  const onOther = await call('POST', '/admin/faults', {
    api: 'Produce', topic: other, action: 'error', error: 'NOT_LEADER_OR_FOLLOWER', count: 1
  })
  assert.equal(onOther.status, 201)

  const producer = kafka.producer({ retry: { initialRetryTime: 50, retries: 5 } })
  await producer.connect()
  const [sent] = await producer.send({ topic, messages: [{ key: 'k', value: 'once', partition: 0 }] })
  await producer.disconnect()
  assert.equal(sent.errorCode, 0)
  assert.equal(sent.baseOffset, '0')

  const { body: faults } = await call('GET', '/admin/faults')
  const fault = faults.find(f => f.id === added.body.id)
  assert.equal(fault.fired, 2)
  assert.equal(fault.spent, true)
  assert.equal(faults.find(f => f.id === onOther.body.id).fired, 0, 'the rule on another topic never fired')
  assert.equal(await endOffset(topic), '1', 'the record was appended once')

  const cleared = await call('DELETE', '/admin/faults')
  assert.deepEqual(cleared, { status: 200, body: { deleted: 2 } })
})

// The time from run() to the first record of `topic` (read from the beginning by a new group).
async function firstRecordAfter (topic) {
  const consumer = kafka.consumer({
    groupId: h.unique('node-delay-g'),
    sessionTimeout: h.SESSION_TIMEOUT_MS,
    heartbeatInterval: h.HEARTBEAT_INTERVAL_MS,
    maxWaitTimeInMs: 100
  })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const got = []
  const started = Date.now()
  let ms = null
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (ms === null) ms = Date.now() - started
      got.push([message.key && message.key.toString(), message.value.toString(), message.offset])
    }
  })
  await h.waitFor(`a record of ${topic}`, () => got.length > 0)
  await consumer.disconnect()
  return { ms, got }
}

test('a Fetch delay fault of 1500 ms shows in the first record\'s latency; another topic reads fast', async () => {
  const topic = h.unique('node-delay')
  const fast = h.unique('node-delay-control')
  await createTopic(topic)
  await createTopic(fast)
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic, messages: [{ key: 'k', value: 'late', partition: 0 }] })
  await producer.send({ topic: fast, messages: [{ key: 'k', value: 'quick', partition: 0 }] })
  await producer.disconnect()
  const added = await call('POST', '/admin/faults', { api: 'Fetch', topic, action: 'delay', delay_ms: 1500 })
  assert.equal(added.status, 201, JSON.stringify(added.body))
  try {
    const control = await firstRecordAfter(fast)
    const delayed = await firstRecordAfter(topic)
    assert.deepEqual(control.got, [['k', 'quick', '0']])
    assert.deepEqual(delayed.got, [['k', 'late', '0']])
    assert.ok(delayed.ms >= 1400, `the delayed record came after ${delayed.ms} ms`)
    // Both include joining the group; the rule's delay is the difference.
    assert.ok(control.ms < delayed.ms - 700, `without the rule ${control.ms} ms, with it ${delayed.ms} ms`)
    const { body: faults } = await call('GET', '/admin/faults')
    assert.ok(faults.find(f => f.id === added.body.id).fired >= 1)
  } finally {
    await call('DELETE', `/admin/faults/${added.body.id}`)
  }
})

test('a Produce close fault with count 1 is reconnected and the send succeeds once', async () => {
  const topic = h.unique('node-close')
  await createTopic(topic)
  const added = await call('POST', '/admin/faults', { api: 'Produce', topic, action: 'close', count: 1 })
  assert.equal(added.status, 201, JSON.stringify(added.body))
  try {
    const producer = kafka.producer({ retry: { initialRetryTime: 50, retries: 5 } })
    await producer.connect()
    const [sent] = await producer.send({ topic, messages: [{ key: 'k', value: 'after-close', partition: 0 }] })
    await producer.disconnect()
    assert.equal(sent.errorCode, 0)
    assert.equal(sent.baseOffset, '0')
    const { body: faults } = await call('GET', '/admin/faults')
    const fault = faults.find(f => f.id === added.body.id)
    assert.equal(fault.fired, 1)
    assert.equal(fault.spent, true)
    assert.equal(await endOffset(topic), '1', 'the record was appended once')
  } finally {
    await call('DELETE', `/admin/faults/${added.body.id}`)
  }
})
