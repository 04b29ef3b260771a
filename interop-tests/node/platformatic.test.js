'use strict'
// @platformatic/kafka (pure JavaScript) against Sluice.
//
// Pinned to 1.35.0: the 2.x line requires Node >= 22.22, and the machine's Node is 20.

const assert = require('node:assert/strict')
const zlib = require('node:zlib')
const { after, before, describe, test } = require('node:test')
const { Admin, Consumer, Producer } = require('@platformatic/kafka')
const h = require('./helpers')

let broker

before(async () => {
  broker = await h.startBroker('platformatic')
})

after(async () => {
  if (broker) await broker.stop()
})

const base = () => ({ clientId: 'sluice-interop-platformatic', bootstrapBrokers: [broker.bootstrap], retries: 5, retryDelay: 100 })

// Headers are a Map; distinct Buffer keys with the same bytes are distinct entries, which is how
// this client represents a repeated header name (in order) in both directions.
const toHeaders = pairs => new Map(pairs.map(([name, value]) => [Buffer.from(name), value]))
const fromHeaders = headers => [...(headers || new Map()).entries()].map(([name, value]) => [name.toString(), value])
// An absent key or value is read back as an empty buffer or undefined depending on the path;
// normalise "absent" to null so the exact comparison is about bytes.
const orNull = x => (x === undefined || x === null) ? null : x

async function produce (producer, messages) {
  const result = await producer.send({ messages })
  return result.offsets || []
}

function consumer (groupId) {
  return new Consumer({
    ...base(),
    groupId,
    sessionTimeout: h.SESSION_TIMEOUT_MS,
    heartbeatInterval: h.HEARTBEAT_INTERVAL_MS,
    rebalanceTimeout: 10_000,
    maxWaitTime: 100,
    autocommit: false
  })
}

// Exactly `count` messages of `topic` from the beginning (a fresh group), then quiet.
async function readAll (topic, count) {
  const c = consumer(h.unique('pk-reader'))
  const got = []
  try {
    const stream = await c.consume({ topics: [topic], mode: 'earliest', autocommit: false })
    stream.on('data', m => got.push(m))
    try {
      await h.waitFor(`${count} records of ${topic} (have ${got.length})`, () => got.length >= count)
      await h.sleep(h.QUIET_MS)
    } finally {
      await stream.close()
    }
    assert.equal(got.length, count, `expected ${count} records, got ${got.length}`)
    return got
  } finally {
    await c.close(true)
  }
}

describe('@platformatic/kafka', () => {
  test('produce and consume with keys and headers', async () => {
    const topic = h.unique('pk-keys')
    const producer = new Producer({ ...base(), autocreateTopics: true, acks: -1 })
    try {
      await produce(producer, h.KEYED_RECORDS.map(([key, value, headers]) => ({
        topic, partition: 0, key: key ?? undefined, value: value ?? undefined, headers: toHeaders(headers)
      })))
    } finally {
      await producer.close()
    }
    const got = await readAll(topic, h.KEYED_RECORDS.length)
    assert.deepEqual(got.map(m => m.offset), h.KEYED_RECORDS.map((_, i) => BigInt(i)))
    h.assertSameRecords(h.KEYED_RECORDS, got.map(m => [orNull(m.key), orNull(m.value), fromHeaders(m.headers)]))
  })

  test('consumer group: two members split 4 partitions, commit, restart resumes', async () => {
    const topic = h.unique('pk-group')
    const groupId = h.unique('pk-group')
    const admin = new Admin(base())
    await admin.createTopics({ topics: [topic], partitions: h.GROUP_PARTITIONS, replicas: 1 })
    await admin.close()

    const producer = new Producer({ ...base(), acks: -1 })
    const produceRound = async round => {
      for (const [p, values] of Object.entries(round)) {
        await produce(producer, values.map(v => ({ topic, partition: Number(p), value: Buffer.from(v) })))
      }
    }

    const members = [consumer(groupId), consumer(groupId)]
    const streams = []
    const received = [[], []]
    const last = [new Map(), new Map()] // partition -> last message, to commit
    const assigned = i => (members[i].assignments || []).filter(a => a.topic === topic).flatMap(a => a.partitions)
    try {
      for (const [i, m] of members.entries()) {
        const stream = await m.consume({ topics: [topic], mode: 'committed', fallbackMode: 'earliest', autocommit: false })
        stream.on('data', msg => {
          received[i].push([msg.partition, msg.value.toString()])
          last[i].set(msg.partition, msg)
        })
        streams.push(stream)
      }
      await h.waitFor('both members to share the partitions', () => h.isSplit([assigned(0), assigned(1)]))
      const assignments = [assigned(0), assigned(1)]
      h.assertSplit(assignments)
      assert.deepEqual(received, [[], []], 'records before anything was produced')

      const produced = h.firstRound()
      await produceRound(produced)
      await h.waitFor('the first round', () => received[0].length + received[1].length >= h.total(produced))
      await h.sleep(h.QUIET_MS)
      for (const i of [0, 1]) h.assertMemberReceived(i, assignments[i], received[i], produced)
      for (const i of [0, 1]) {
        for (const msg of last[i].values()) await msg.commit()
      }
    } finally {
      for (const s of streams) await s.close()
      for (const m of members) await m.close(true)
    }

    await produceRound(h.secondRound())
    await producer.close()

    const restarted = consumer(groupId)
    const got = []
    try {
      const stream = await restarted.consume({ topics: [topic], mode: 'committed', fallbackMode: 'earliest', autocommit: false })
      stream.on('data', msg => got.push([msg.partition, msg.value.toString()]))
      try {
        await h.waitFor('the second round', () => got.length >= h.total(h.secondRound()))
        await h.sleep(h.QUIET_MS)
        const mine = (restarted.assignments || []).filter(a => a.topic === topic).flatMap(a => a.partitions)
        assert.deepEqual([...mine].sort(), [0, 1, 2, 3])
      } finally {
        await stream.close()
      }
    } finally {
      await restarted.close(true)
    }
    h.assertResumed(got)
  })

  test('admin: create a topic and read its partition count from metadata', async () => {
    const topic = h.unique('pk-admin')
    const admin = new Admin(base())
    try {
      const created = await admin.createTopics({ topics: [topic], partitions: 3, replicas: 1 })
      assert.equal(created.length, 1)
      assert.equal(created[0].name, topic)
      assert.equal(created[0].partitions, 3)
      const metadata = await admin.metadata({ topics: [topic], forceUpdate: true })
      const t = metadata.topics.get(topic)
      assert.ok(t, `${topic} missing from metadata`)
      assert.equal(t.partitionsCount, 3)
      assert.deepEqual(t.partitions.map((_, i) => i), [0, 1, 2])
      await assert.rejects(admin.createTopics({ topics: [topic], partitions: 3, replicas: 1 }), err => {
        const text = JSON.stringify(err, Object.getOwnPropertyNames(err)) + String(err.cause || '') + JSON.stringify(err.errors || [])
        assert.match(text, /already exists|TOPIC_ALREADY_EXISTS|"?36"?/i)
        return true
      })
    } finally {
      await admin.close()
    }
  })

  const zstdReason = typeof zlib.zstdCompressSync === 'function'
    ? false
    : `unsupported by this client on Node ${process.versions.node}: @platformatic/kafka compresses zstd with node:zlib's zstdCompressSync (Node >= 22.15)`
  for (const codec of ['gzip', 'snappy', 'lz4', 'zstd']) {
    test(`compression ${codec}`, { skip: codec === 'zstd' && zstdReason }, async () => {
      const topic = h.unique(`pk-${codec}`)
      const values = h.compressibleValues(200)
      const records = values.map((v, i) => [Buffer.from(`k${i}`), v, [['codec', Buffer.from(codec)]]])
      const producer = new Producer({ ...base(), autocreateTopics: true, acks: -1, compression: codec })
      try {
        await produce(producer, records.map(([key, value, headers]) => ({ topic, partition: 0, key, value, headers: toHeaders(headers) })))
      } finally {
        await producer.close()
      }
      const got = await readAll(topic, records.length)
      h.assertSameRecords(records, got.map(m => [orNull(m.key), orNull(m.value), fromHeaders(m.headers)]))
    })
  }

  test('idempotent producer', async () => {
    const topic = h.unique('pk-idem')
    const values = Array.from({ length: 500 }, (_, i) => `idempotent-${i}`)
    const producer = new Producer({ ...base(), autocreateTopics: true, idempotent: true, acks: -1 })
    try {
      for (let i = 0; i < values.length; i += 100) {
        const offsets = await produce(producer, values.slice(i, i + 100).map(v => ({ topic, partition: 0, value: Buffer.from(v) })))
        assert.ok(offsets.length > 0 && offsets.every(o => o.topic === topic && o.partition === 0), JSON.stringify(offsets, (_, v) => typeof v === 'bigint' ? String(v) : v))
      }
      assert.ok(producer.producerId !== undefined && producer.producerId >= 0n, `no producer id: ${producer.producerId}`)
    } finally {
      await producer.close()
    }
    const got = await readAll(topic, values.length)
    assert.deepEqual(got.map(m => m.value.toString()), values)
    assert.deepEqual(got.map(m => m.offset), values.map((_, i) => BigInt(i)))
  })
})
