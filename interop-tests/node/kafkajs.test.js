'use strict'
// kafkajs (pure JavaScript) against Sluice.

const assert = require('node:assert/strict')
const { after, before, describe, test } = require('node:test')
const { CompressionCodecs, CompressionTypes, ConfigResourceTypes, ConfigSource, Kafka, logLevel } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')
const LZ4Codec = require('kafkajs-lz4')
const zstd = require('zstd-napi')
const h = require('./helpers')

// Codecs kafkajs does not bundle. Snappy and LZ4 are the kafkajs-snappy and kafkajs-lz4
// packages. ZStandard's package, @kafkajs/zstd, depends on cppzst, which does not compile
// against Node 20's headers; this adapter has its shape (compress(encoder) / decompress(buffer))
// on zstd-napi instead.
CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
CompressionCodecs[CompressionTypes.LZ4] = new LZ4Codec().codec
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  async compress (encoder) { return zstd.compress(encoder.buffer) },
  async decompress (buffer) { return zstd.decompress(buffer) }
})

let broker
let kafka

before(async () => {
  broker = await h.startBroker('kafkajs')
  kafka = new Kafka({
    clientId: 'sluice-interop-kafkajs',
    brokers: [broker.bootstrap],
    logLevel: logLevel.ERROR,
    retry: { initialRetryTime: 100, retries: 5 }
  })
})

after(async () => {
  if (broker) await broker.stop()
})

// kafkajs headers are an object: a repeated name is an array of values, in order.
function toKafkajsHeaders (pairs) {
  const headers = {}
  for (const [name, value] of pairs) {
    if (name in headers) headers[name] = [].concat(headers[name], value)
    else headers[name] = value
  }
  return headers
}

function fromKafkajsHeaders (headers) {
  const pairs = []
  for (const [name, value] of Object.entries(headers || {})) {
    for (const v of [].concat(value)) pairs.push([name, v])
  }
  return pairs
}

function consumer (groupId) {
  return kafka.consumer({
    groupId,
    sessionTimeout: h.SESSION_TIMEOUT_MS,
    heartbeatInterval: h.HEARTBEAT_INTERVAL_MS,
    rebalanceTimeout: 10_000,
    maxWaitTimeInMs: 100
  })
}

// Exactly `count` messages of `topic` from the beginning (kafkajs always consumes in a group:
// a fresh one), then quiet.
async function readAll (topic, count) {
  const c = consumer(h.unique('kjs-reader'))
  const got = []
  await c.connect()
  try {
    await c.subscribe({ topic, fromBeginning: true })
    await c.run({ autoCommit: false, eachMessage: async ({ message }) => { got.push(message) } })
    await h.waitFor(`${count} records of ${topic} (have ${got.length})`, () => got.length >= count)
    await h.sleep(h.QUIET_MS)
    assert.equal(got.length, count, `expected ${count} records, got ${got.length}`)
    return got
  } finally {
    await c.disconnect()
  }
}

describe('kafkajs', () => {
  // Runs first, so that its group is the first one this file's fresh broker sees. KIP-394:
  // a new member's JoinGroup is answered MEMBER_ID_REQUIRED with a member id, and the JoinGroup
  // that comes back with that id must be accepted. kafkajs logs every error response, and
  // recovers from a wrong one by starting over, so this test reads its log.
  test('group join: a new member is accepted with the member id the broker gave it', async () => {
    const joinErrors = []
    const logged = new Kafka({
      clientId: 'sluice-interop-kafkajs-join',
      brokers: [broker.bootstrap],
      logLevel: logLevel.ERROR,
      logCreator: () => ({ log }) => {
        if (/Response JoinGroup/.test(log.message) && log.error) joinErrors.push(log.error)
      }
    })
    const c = logged.consumer({ groupId: h.unique('kjs-first-join'), sessionTimeout: h.SESSION_TIMEOUT_MS, heartbeatInterval: h.HEARTBEAT_INTERVAL_MS, maxWaitTimeInMs: 100 })
    let joined = false
    c.on(c.events.GROUP_JOIN, () => { joined = true })
    await c.connect()
    try {
      await c.subscribe({ topic: h.unique('kjs-first-join'), fromBeginning: true })
      await c.run({ eachMessage: async () => {} })
      await h.waitFor('the group join', () => joined)
    } finally {
      await c.disconnect()
    }
    // Only MEMBER_ID_REQUIRED (kafkajs logs it at debug level, so not here) is expected.
    assert.deepEqual(joinErrors, [], 'JoinGroup error responses while joining a new group')
  })

  test('produce and consume with keys and headers', async () => {
    const topic = h.unique('kjs-keys')
    const producer = kafka.producer()
    await producer.connect()
    try {
      await producer.send({
        topic,
        acks: -1,
        messages: h.KEYED_RECORDS.map(([key, value, headers]) => ({ key, value, headers: toKafkajsHeaders(headers), partition: 0 }))
      })
    } finally {
      await producer.disconnect()
    }
    const got = await readAll(topic, h.KEYED_RECORDS.length)
    assert.deepEqual(got.map(m => m.offset), h.KEYED_RECORDS.map((_, i) => String(i)))
    h.assertSameRecords(h.KEYED_RECORDS, got.map(m => [m.key, m.value, fromKafkajsHeaders(m.headers)]))
  })

  test('consumer group: two members split 4 partitions, commit, restart resumes', async () => {
    const topic = h.unique('kjs-group')
    const groupId = h.unique('kjs-group')
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic, numPartitions: h.GROUP_PARTITIONS, replicationFactor: 1 }] })
    await admin.disconnect()

    const producer = kafka.producer()
    await producer.connect()
    const produce = async round => {
      for (const [p, values] of Object.entries(round)) {
        await producer.send({ topic, acks: -1, messages: values.map(v => ({ value: v, partition: Number(p) })) })
      }
    }

    const members = [consumer(groupId), consumer(groupId)]
    const assignments = [null, null]
    const received = [[], []]
    const next = [{}, {}]
    try {
      for (const [i, m] of members.entries()) {
        m.on(m.events.GROUP_JOIN, e => { assignments[i] = e.payload.memberAssignment[topic] || [] })
        await m.connect()
        await m.subscribe({ topic, fromBeginning: true })
        await m.run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            received[i].push([partition, message.value.toString()])
            next[i][partition] = (BigInt(message.offset) + 1n).toString()
          }
        })
      }
      await h.waitFor('both members to share the partitions', () => h.isSplit(assignments))
      h.assertSplit(assignments)
      assert.deepEqual(received, [[], []], 'records before anything was produced')

      const produced = h.firstRound()
      await produce(produced)
      await h.waitFor('the first round', () => received[0].length + received[1].length >= h.total(produced))
      await h.sleep(h.QUIET_MS)
      for (const i of [0, 1]) h.assertMemberReceived(i, assignments[i], received[i], produced)
      for (const [i, m] of members.entries()) {
        await m.commitOffsets(Object.entries(next[i]).map(([partition, offset]) => ({ topic, partition: Number(partition), offset })))
      }
    } finally {
      for (const m of members) await m.disconnect()
    }

    await produce(h.secondRound())
    await producer.disconnect()

    const restarted = consumer(groupId)
    const got = []
    let assigned = null
    restarted.on(restarted.events.GROUP_JOIN, e => { assigned = e.payload.memberAssignment[topic] || [] })
    await restarted.connect()
    try {
      await restarted.subscribe({ topic, fromBeginning: true })
      await restarted.run({ autoCommit: false, eachMessage: async ({ partition, message }) => { got.push([partition, message.value.toString()]) } })
      await h.waitFor('the second round', () => got.length >= h.total(h.secondRound()))
      await h.sleep(h.QUIET_MS)
      assert.deepEqual([...assigned].sort(), [0, 1, 2, 3])
    } finally {
      await restarted.disconnect()
    }
    h.assertResumed(got)
  })

  test('admin: create a topic and read its partition count from metadata', async () => {
    const topic = h.unique('kjs-admin')
    const admin = kafka.admin()
    await admin.connect()
    try {
      const created = await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true })
      assert.equal(created, true, 'createTopics reported the topic as not created')
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
      assert.equal(topics.length, 1)
      assert.equal(topics[0].name, topic)
      assert.deepEqual(topics[0].partitions.map(p => p.partitionId).sort(), [0, 1, 2])
      // kafkajs answers false when the topic already exists (TOPIC_ALREADY_EXISTS).
      const again = await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }] })
      assert.equal(again, false)
    } finally {
      await admin.disconnect()
    }
  })

  test('admin: alterConfigs replaces a topic\'s overrides, describeConfigs shows value, source and synonyms', async () => {
    const topic = h.unique('kjs-configs')
    const admin = kafka.admin()
    await admin.connect()
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'retention.ms', value: '1000' }] }], waitForLeaders: true })
      // kafkajs has only the legacy AlterConfigs: the whole set is replaced.
      await admin.alterConfigs({
        validateOnly: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'cleanup.policy', value: 'compact,delete' }, { name: 'segment.ms', value: '3600000' }] }]
      })
      const described = await admin.describeConfigs({
        includeSynonyms: true,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['cleanup.policy', 'segment.ms', 'retention.ms'] }]
      })
      const entries = Object.fromEntries(described.resources[0].configEntries.map(e => [e.configName, e]))
      assert.equal(entries['cleanup.policy'].configValue, 'compact,delete')
      assert.equal(entries['cleanup.policy'].configSource, ConfigSource.TOPIC_CONFIG)
      assert.deepEqual(entries['cleanup.policy'].configSynonyms.map(s => [s.configName, s.configValue, s.configSource]), [
        ['cleanup.policy', 'compact,delete', ConfigSource.TOPIC_CONFIG],
        ['log.cleanup.policy', 'delete', ConfigSource.DEFAULT_CONFIG]
      ])
      assert.equal(entries['segment.ms'].configValue, '3600000')
      assert.equal(entries['retention.ms'].configValue, '604800000')
      assert.equal(entries['retention.ms'].configSource, ConfigSource.DEFAULT_CONFIG)
      // A bad value is refused with INVALID_CONFIG and changes nothing.
      await assert.rejects(
        admin.alterConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'retention.ms', value: 'soon' }] }] }),
        e => e.type === 'INVALID_CONFIG' || /INVALID_CONFIG|Invalid value/.test(String(e.message))
      )
      const again = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['segment.ms'] }] })
      assert.equal(again.resources[0].configEntries[0].configValue, '3600000')
    } finally {
      await admin.disconnect()
    }
  })

  for (const [name, codec] of [['gzip', CompressionTypes.GZIP], ['snappy', CompressionTypes.Snappy], ['lz4', CompressionTypes.LZ4], ['zstd', CompressionTypes.ZSTD]]) {
    test(`compression ${name}`, async () => {
      const topic = h.unique(`kjs-${name}`)
      const values = h.compressibleValues(200)
      const records = values.map((v, i) => [Buffer.from(`k${i}`), v, [['codec', Buffer.from(name)]]])
      const producer = kafka.producer()
      await producer.connect()
      try {
        await producer.send({
          topic,
          acks: -1,
          compression: codec,
          messages: records.map(([key, value, headers]) => ({ key, value, headers: toKafkajsHeaders(headers), partition: 0 }))
        })
      } finally {
        await producer.disconnect()
      }
      const got = await readAll(topic, records.length)
      h.assertSameRecords(records, got.map(m => [m.key, m.value, fromKafkajsHeaders(m.headers)]))
    })
  }

  test('idempotent producer', async () => {
    const topic = h.unique('kjs-idem')
    const values = Array.from({ length: 500 }, (_, i) => `idempotent-${i}`)
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    try {
      for (let i = 0; i < values.length; i += 100) {
        const [result] = await producer.send({ topic, acks: -1, messages: values.slice(i, i + 100).map(value => ({ value, partition: 0 })) })
        assert.equal(result.errorCode, 0)
        assert.equal(result.baseOffset, String(i))
      }
    } finally {
      await producer.disconnect()
    }
    const got = await readAll(topic, values.length)
    assert.deepEqual(got.map(m => m.value.toString()), values)
    assert.deepEqual(got.map(m => m.offset), values.map((_, i) => String(i)))
  })
  test('transactions: commit, abort, sendOffsets; read_committed skips the aborted', async () => {
    const topic = h.unique('kjs-txn')
    const groupId = h.unique('kjs-txn-group')
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] })
    const producer = kafka.producer({ transactionalId: h.unique('kjs-txn-id'), idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    try {
      let txn = await producer.transaction()
      await txn.send({ topic, messages: [{ value: 'c-0', partition: 0 }, { value: 'c-1', partition: 0 }] })
      await txn.commit()
      txn = await producer.transaction()
      await txn.send({ topic, messages: [{ value: 'a-0', partition: 0 }] })
      await txn.abort()
      txn = await producer.transaction()
      await txn.send({ topic, messages: [{ value: 'c-2', partition: 0 }] })
      await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic, partitions: [{ partition: 0, offset: '3' }] }] })
      await txn.commit()
    } finally {
      await producer.disconnect()
    }
    // kafkajs consumers read committed by default. 0-1 committed, 2 marker, 3 aborted,
    // 4 marker, 5 committed, 6 marker.
    const got = await readAll(topic, 3)
    assert.deepEqual(got.map(m => [m.offset, m.value.toString()]), [['0', 'c-0'], ['1', 'c-1'], ['5', 'c-2']])
    try {
      await h.waitFor('the transaction\'s offset', async () => {
        const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] })
        return offsets.partitions[0].offset === '3'
      })
    } finally {
      await admin.disconnect()
    }
  })
})
