/*
 * kafkajs 2.2.4 src/producer/sendMessages.js, patched by License Ledger (tools/patches/apply.ts
 * copies it over the installed file at npm install). kafkajs is MIT-licensed, Copyright (c) 2018
 * Túlio Ornelas; see node_modules/kafkajs/LICENSE. What changed and why: the comment in
 * createProducerRequests and in the retrier below.
 */
const { KafkaJSMetadataNotLoaded } = require('../errors')
const { staleMetadata } = require('../protocol/error')
const groupMessagesPerPartition = require('./groupMessagesPerPartition')
const createTopicData = require('./createTopicData')
const responseSerializer = require('./responseSerializer')

const { keys } = Object

/**
 * @param {Object} options
 * @param {import("../../types").Logger} options.logger
 * @param {import("../../types").Cluster} options.cluster
 * @param {ReturnType<import("../../types").ICustomPartitioner>} options.partitioner
 * @param {import("./eosManager").EosManager} options.eosManager
 * @param {import("../retry").Retrier} options.retrier
 */
module.exports = ({ logger, cluster, partitioner, eosManager, retrier }) => {
  return async ({ acks, timeout, compression, topicMessages }) => {
    // License Ledger patch: remember what was delivered per topic-partition, not per broker object.
    // Upstream keys delivered responses by Broker instance; after a leader move or a reconnect (new
    // Broker objects) a retry re-sent partitions that had already been written, with their sequence
    // numbers already advanced, so the broker accepted them again: duplicated records inside a
    // committed transaction. A partition delivered once is never sent again by the retries.
    /** @type {Map<string, any[]>} */
    const deliveredPerPartition = new Map()
    const partitionKey = (topic, partition) => `${topic}\u0000${partition}`

    const createProducerRequests = async () => {
      const topicMetadata = new Map()
      /** @type {Set<string>} */
      const leaderIds = new Set()

      await cluster.refreshMetadataIfNecessary()

      for (const { topic, messages } of topicMessages) {
        const partitionMetadata = cluster.findTopicPartitionMetadata(topic)

        if (partitionMetadata.length === 0) {
          logger.debug('Producing to topic without metadata', {
            topic,
            targetTopics: Array.from(cluster.targetTopics),
          })

          throw new KafkaJSMetadataNotLoaded('Producing to topic without metadata')
        }

        const messagesPerPartition = groupMessagesPerPartition({
          topic,
          partitionMetadata,
          messages,
          partitioner,
        })

        const pendingPartitions = keys(messagesPerPartition).filter(
          partition => !deliveredPerPartition.has(partitionKey(topic, partition))
        )
        if (pendingPartitions.length === 0) continue
        const partitionsPerLeader = cluster.findLeaderForPartitions(topic, pendingPartitions)
        keys(partitionsPerLeader).forEach(nodeId => leaderIds.add(nodeId))

        topicMetadata.set(topic, { partitionsPerLeader, messagesPerPartition })
      }

      const brokers = await Promise.all(
        Array.from(leaderIds).map(nodeId => cluster.findBroker({ nodeId }))
      )

      return brokers.map(async broker => {
        const entries = Array.from(topicMetadata.entries())
        const topicDataForBroker = entries
          .filter(([_, { partitionsPerLeader }]) => !!partitionsPerLeader[broker.nodeId])
          .map(([topic, { partitionsPerLeader, messagesPerPartition }]) => ({
            topic,
            partitions: partitionsPerLeader[broker.nodeId],
            messagesPerPartition,
          }))

        const topicData = createTopicData(topicDataForBroker)

        await eosManager.acquireBrokerLock(broker)
        try {
          if (eosManager.isTransactional()) {
            await eosManager.addPartitionsToTransaction(topicData)
          }

          topicData.forEach(({ topic, partitions }) => {
            partitions.forEach(entry => {
              entry['firstSequence'] = eosManager.getSequence(topic, entry.partition)
              eosManager.updateSequence(topic, entry.partition, entry.messages.length)
            })
          })

          let response
          try {
            response = await broker.produce({
              transactionalId: eosManager.isTransactional()
                ? eosManager.getTransactionalId()
                : undefined,
              producerId: eosManager.getProducerId(),
              producerEpoch: eosManager.getProducerEpoch(),
              acks,
              timeout,
              compression,
              topicData,
            })
          } catch (e) {
            // Not delivered: the retry re-sends with the same sequence numbers, so a write the
            // broker did make is recognised as a duplicate instead of being appended again.
            topicData.forEach(({ topic, partitions }) => {
              partitions.forEach(entry => {
                eosManager.updateSequence(topic, entry.partition, -entry.messages.length)
              })
            })
            throw e
          }

          const expectResponse = acks !== 0
          const formattedResponse = expectResponse ? responseSerializer(response) : []
          topicData.forEach(({ topic, partitions }) => {
            partitions.forEach(entry => {
              deliveredPerPartition.set(
                partitionKey(topic, entry.partition),
                formattedResponse.filter(
                  r => r.topicName === topic && String(r.partition) === String(entry.partition)
                )
              )
            })
          })
        } finally {
          await eosManager.releaseBrokerLock(broker)
        }
      })
    }

    return retrier(async (bail, retryCount, retryTime) => {
      const topics = topicMessages.map(({ topic }) => topic)
      await cluster.addMultipleTargetTopics(topics)

      try {
        const requests = await createProducerRequests()
        // Wait for every request of this attempt to settle before retrying, so that a request still
        // in flight is never sent a second time by the next attempt.
        const settled = await Promise.allSettled(requests)
        const failure = settled.find(outcome => outcome.status === 'rejected')
        if (failure) throw failure.reason
        return Array.from(deliveredPerPartition.values()).flat()
      } catch (e) {
        if (e.name === 'KafkaJSConnectionClosedError') {
          cluster.removeBroker({ host: e.host, port: e.port })
        }

        if (!cluster.isConnected()) {
          logger.debug(`Cluster has disconnected, reconnecting: ${e.message}`, {
            retryCount,
            retryTime,
          })
          await cluster.connect()
          await cluster.refreshMetadata()
          throw e
        }

        // This is necessary in case the metadata is stale and the number of partitions
        // for this topic has increased in the meantime
        if (
          staleMetadata(e) ||
          e.name === 'KafkaJSMetadataNotLoaded' ||
          e.name === 'KafkaJSConnectionError' ||
          e.name === 'KafkaJSConnectionClosedError' ||
          (e.name === 'KafkaJSProtocolError' && e.retriable)
        ) {
          logger.error(`Failed to send messages: ${e.message}`, { retryCount, retryTime })
          await cluster.refreshMetadata()
          throw e
        }

        logger.error(`${e.message}`, { retryCount, retryTime })
        if (e.retriable) throw e
        bail(e)
      }
    })
  }
}
