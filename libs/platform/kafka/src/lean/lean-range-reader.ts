/**
 * MessageBus.readRanges without a consumer group: Fetch requests straight to each partition's
 * leader, read-committed, one request in flight per broker while the answer before it is decoded.
 * Records are handed over as views of the fetched answers (no copies). Leaders that move or
 * brokers that go away are found again through metadata, and each partition reads on from the
 * next offset it has not handed over, so every offset is handed over exactly once.
 */
import type { PartitionRange, ReadRangesOptions, ReceivedMessage } from '../message-bus';
import { BrokerAddress, BrokerConnection, BrokerConnectionError, parseAddress } from './broker-connection';
import {
  ApiKey,
  decodeApiVersionsResponse,
  decodeFetchResponse,
  decodeMetadataResponse,
  encodeApiVersionsRequest,
  encodeFetchRequest,
  encodeMetadataRequest,
  ErrorCode,
  FETCH_VERSIONS,
  FetchedPartition,
  FetchSizes,
  KafkaProtocolError,
  LeanReadUnsupportedError,
  METADATA_VERSIONS,
  pickVersion,
  RETRIABLE_PARTITION_ERRORS,
} from './protocol';
import { decodeCommitted, offsetAfterWholeBatches } from './record-batch';

export interface LeanReaderConfig {
  readonly clientId: string;
  /** Bootstrap brokers, host:port. */
  readonly brokers: readonly string[];
  readonly requestTimeoutMs?: number;
  /** Most bytes of one Fetch answer, and of one partition in it. */
  readonly maxBytes?: number;
  readonly partitionMaxBytes?: number;
  /** How long a partition may go without an answer from a leader (elections, restarts) before the read fails. */
  readonly leaderPatienceMs?: number;
}

/**
 * The lean reader stopped at something it does not read (a compression codec, a broker without its
 * request versions): `remaining` is what is left of the ranges, for another reader to go on with.
 */
export class LeanReadRefusedError extends Error {
  override readonly name = 'LeanReadRefusedError';
  constructor(
    readonly remaining: readonly PartitionRange[],
    cause: LeanReadUnsupportedError,
  ) {
    super(cause.message, { cause });
  }
}

interface Broker {
  readonly connection: BrokerConnection;
  readonly versions: Promise<{ readonly metadata: number; readonly fetch: number }>;
}

interface Scanned {
  readonly fetched: FetchedPartition;
  /** The offset after its whole batches, capped at the range end. */
  readonly position: number;
}

/**
 * Answers of a few MB: big enough that a round trip carries thousands of records, small enough
 * that the allocator reuses their memory (fresh multi-MB buffers cost page faults: measured 2-3x
 * slower reads with 16 MB answers, tools/kafka/bench-read.ts).
 */
const DEFAULT_MAX_BYTES = 8 * 1024 * 1024;
const DEFAULT_PARTITION_MAX_BYTES = 1024 * 1024;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function readRangesLean(config: LeanReaderConfig, options: ReadRangesOptions): Promise<void> {
  let read: RangeRead;
  try {
    read = new RangeRead(config, options);
  } catch (error) {
    throw error instanceof LeanReadUnsupportedError ? new LeanReadRefusedError(options.ranges, error) : error;
  }
  await read.run();
}

class RangeRead {
  private readonly topic: string;
  private readonly sizes: FetchSizes;
  /** Next offset to hand over, and the range end, per partition. */
  private readonly next = new Map<number, number>();
  private readonly ends = new Map<number, number>();
  /** Where the next Fetch of a partition starts: ahead of `next` while an answer is being handed over. */
  private readonly fetchAt = new Map<number, number>();
  private readonly pending = new Set<number>();
  /** Partitions waiting for a leader, since when; `waitingSince` is cleared by a leader's answer. */
  private readonly orphans = new Map<number, number>();
  private readonly waitingSince = new Map<number, number>();
  private lastLeaderError: unknown;
  private rerouting = false;
  private readonly brokerConnections = new Map<string, Broker>();
  private brokerAddresses = new Map<number, BrokerAddress>();
  /** The partitions each broker's fetch loop reads; a loop ends when it has none left. */
  private readonly loops = new Map<number, Set<number>>();
  private readonly running = new Set<Promise<void>>();
  private delivering: Promise<void> = Promise.resolve();
  private settled = false;
  private finish: (error?: unknown) => void = () => undefined;

  constructor(
    private readonly config: LeanReaderConfig,
    private readonly options: ReadRangesOptions,
  ) {
    this.topic = options.topic;
    this.sizes = { maxWaitMs: 500, maxBytes: config.maxBytes ?? DEFAULT_MAX_BYTES, partitionMaxBytes: config.partitionMaxBytes ?? DEFAULT_PARTITION_MAX_BYTES };
    for (const range of options.ranges) {
      const [start, end] = [Number(range.start), Number(range.end)];
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) throw new LeanReadUnsupportedError(`offsets beyond 2^53 in partition ${range.partition}`);
      this.next.set(range.partition, start);
      this.fetchAt.set(range.partition, start);
      this.ends.set(range.partition, end);
      if (start < end) this.pending.add(range.partition);
    }
  }

  async run(): Promise<void> {
    if (this.pending.size === 0) return;
    const aborted = new Error(`read of ${this.topic} aborted`);
    if (this.options.signal?.aborted) throw aborted;
    const outcome = new Promise<void>((resolve, reject) => {
      this.finish = (error) => {
        if (this.settled) return;
        this.settled = true;
        if (error === undefined) resolve();
        else reject(error);
      };
    });
    const abort = (): void => this.stop(aborted);
    this.options.signal?.addEventListener('abort', abort, { once: true });
    for (const partition of this.pending) this.orphan(partition, undefined, 0);
    let failure: { readonly error: unknown } | undefined;
    try {
      await outcome;
    } catch (error) {
      failure = { error };
    }
    this.options.signal?.removeEventListener('abort', abort);
    this.stop();
    // A handler still running for a batch finishes before the read returns, and its batch counts as handed over.
    await Promise.allSettled([...this.running]);
    if (!failure) return;
    throw failure.error instanceof LeanReadUnsupportedError ? new LeanReadRefusedError(this.remaining(), failure.error) : failure.error;
  }

  private stop(error?: unknown): void {
    this.finish(error);
    for (const broker of this.brokerConnections.values()) broker.connection.close();
    this.brokerConnections.clear();
  }

  private remaining(): PartitionRange[] {
    return [...this.pending].map((partition) => ({ partition, start: String(this.next.get(partition)), end: String(this.ends.get(partition)) }));
  }

  private broker(address: BrokerAddress): Broker {
    if (this.settled) throw new BrokerConnectionError('the read has ended');
    const key = `${address.host}:${address.port}`;
    const known = this.brokerConnections.get(key);
    if (known && !known.connection.closed) return known;
    const connection = new BrokerConnection(address, this.config.clientId, this.config.requestTimeoutMs ?? 30_000);
    const versions = connection.request(ApiKey.apiVersions, 0, encodeApiVersionsRequest()).then((body) => {
      const ranges = decodeApiVersionsResponse(body);
      return { metadata: pickVersion(ranges, ApiKey.metadata, METADATA_VERSIONS, 'Metadata'), fetch: pickVersion(ranges, ApiKey.fetch, FETCH_VERSIONS, 'Fetch') };
    });
    versions.catch(() => undefined);
    const broker = { connection, versions };
    this.brokerConnections.set(key, broker);
    return broker;
  }

  /** Finds leaders for the orphaned partitions (after `delayMs`, then with backoff) and hands each to its leader's loop. */
  private reroute(delayMs: number): void {
    if (this.rerouting || this.settled) return;
    this.rerouting = true;
    void (async () => {
      try {
        for (let wait = delayMs; this.orphans.size > 0 && !this.settled; wait = Math.min(Math.max(wait * 2, 100), 1_000)) {
          if (wait > 0) await sleep(wait);
          const patience = this.config.leaderPatienceMs ?? 60_000;
          const overdue = [...this.orphans.values()].some((since) => Date.now() - since > patience);
          if (overdue) throw new Error(`no leader answered for partitions ${[...this.orphans.keys()].join(', ')} of ${this.topic} in ${patience} ms: ${String(this.lastLeaderError)}`, { cause: this.lastLeaderError });
          if (await this.refreshLeaders()) wait = 0;
        }
      } catch (error) {
        this.stop(error);
      } finally {
        this.rerouting = false;
      }
      if (this.orphans.size > 0) this.reroute(100);
    })();
  }

  /** One metadata round; true when every orphan found its leader. */
  private async refreshLeaders(): Promise<boolean> {
    const addresses = [...this.brokerAddresses.values(), ...this.config.brokers.map(parseAddress)];
    for (const address of addresses) {
      if (this.settled) return true;
      const broker = this.broker(address);
      let metadata;
      try {
        const { metadata: version } = await broker.versions;
        metadata = decodeMetadataResponse(version, await broker.connection.request(ApiKey.metadata, version, encodeMetadataRequest(version, this.topic)), this.topic);
      } catch (error) {
        if (!(error instanceof BrokerConnectionError)) throw error;
        this.lastLeaderError = error;
        continue;
      }
      if (this.settled) return true;
      if (metadata.topicError !== ErrorCode.none) {
        if (!RETRIABLE_PARTITION_ERRORS.has(metadata.topicError)) throw new KafkaProtocolError(metadata.topicError, `metadata of ${this.topic}`);
        this.lastLeaderError = new KafkaProtocolError(metadata.topicError, `metadata of ${this.topic}`);
        return false;
      }
      this.brokerAddresses = new Map(metadata.brokers);
      for (const { partition, leader } of metadata.partitions) {
        if (!this.orphans.has(partition) || !this.brokerAddresses.has(leader)) continue;
        this.orphans.delete(partition);
        this.fetchAt.set(partition, this.next.get(partition) ?? 0);
        this.assign(partition, leader);
      }
      return this.orphans.size === 0;
    }
    return false;
  }

  private orphan(partition: number, error: unknown, delayMs = 100): void {
    this.lastLeaderError = error;
    const since = this.waitingSince.get(partition) ?? Date.now();
    this.waitingSince.set(partition, since);
    this.orphans.set(partition, since);
    this.reroute(delayMs);
  }

  private assign(partition: number, leader: number): void {
    const owned = this.loops.get(leader);
    if (owned) {
      owned.add(partition);
      return;
    }
    const partitions = new Set([partition]);
    this.loops.set(leader, partitions);
    const loop = this.fetchLoop(leader, partitions).finally(() => this.running.delete(loop));
    this.running.add(loop);
  }

  /** Fetches `owned` from one broker until none is left, asking for the next answer before handing over the last. */
  private async fetchLoop(brokerId: number, owned: Set<number>): Promise<void> {
    try {
      const address = this.brokerAddresses.get(brokerId);
      if (!address) throw new BrokerConnectionError(`broker ${brokerId} is not in the metadata`);
      const broker = this.broker(address);
      const { fetch: version } = await broker.versions;
      let rotation = 0;
      const send = (): { readonly asked: ReadonlyMap<number, number>; readonly answer: Promise<FetchedPartition[]> } | undefined => {
        const partitions = [...owned].filter((p) => (this.fetchAt.get(p) ?? 0) < (this.ends.get(p) ?? 0));
        if (partitions.length === 0 || this.settled) return undefined;
        // A full answer favours the partitions asked first: each request starts at another one.
        rotation = (rotation + 1) % partitions.length;
        const ordered = [...partitions.slice(rotation), ...partitions.slice(0, rotation)].map((partition) => ({ partition, offset: this.fetchAt.get(partition) ?? 0 }));
        const body = encodeFetchRequest(this.topic, ordered, this.sizes);
        const answer = broker.connection.request(ApiKey.fetch, version, body).then((bytes) => decodeFetchResponse(bytes, this.topic));
        answer.catch(() => undefined);
        return { asked: new Map(ordered.map((p) => [p.partition, p.offset])), answer };
      };
      let request = send();
      while (request && !this.settled) {
        const fetched = await request.answer;
        if (this.settled) return;
        const scanned = this.scan(fetched, request.asked, owned);
        // The next request travels while this answer is decoded and handed over.
        const following = send();
        for (const { fetched: partition, position } of scanned) await this.handOver(partition, position, owned);
        // Partitions handed to this loop meanwhile are asked for now.
        request = following ?? send();
      }
    } catch (error) {
      if (this.settled) return;
      if (!(error instanceof BrokerConnectionError)) {
        this.stop(error);
        return;
      }
      // The broker went away: its partitions wait for a leader, from the next offset not handed over.
      for (const partition of owned) this.orphan(partition, error);
      owned.clear();
    } finally {
      if (this.loops.get(brokerId) === owned) this.loops.delete(brokerId);
    }
  }

  /** Moves each partition's fetch position past the answer's whole batches; partitions to re-route leave `owned`. */
  private scan(fetched: readonly FetchedPartition[], asked: ReadonlyMap<number, number>, owned: Set<number>): Scanned[] {
    const scanned: Scanned[] = [];
    for (const partition of fetched) {
      const id = partition.partition;
      const from = asked.get(id);
      // An answer to a request from before the partition left this loop (or came back to it).
      if (from === undefined || !owned.has(id) || from !== this.fetchAt.get(id)) continue;
      if (partition.errorCode !== ErrorCode.none) {
        const error = new KafkaProtocolError(partition.errorCode, `Fetch of ${this.topic}/${id} at offset ${from}`);
        if (!RETRIABLE_PARTITION_ERRORS.has(partition.errorCode)) throw error;
        owned.delete(id);
        this.orphan(id, error);
        continue;
      }
      this.waitingSince.delete(id);
      if (!partition.records || partition.records.length === 0) continue;
      const position = Math.min(offsetAfterWholeBatches(partition.records, from), this.ends.get(id) ?? 0);
      this.fetchAt.set(id, position);
      scanned.push({ fetched: partition, position });
    }
    return scanned;
  }

  private async handOver(fetched: FetchedPartition, position: number, owned: Set<number>): Promise<void> {
    const partition = fetched.partition;
    const from = this.next.get(partition) ?? 0;
    const end = this.ends.get(partition) ?? 0;
    if (!fetched.records || position <= from) return;
    const messages = decodeCommitted(fetched.records, fetched.abortedTransactions, { topic: this.topic, partition, from, end });
    if (messages.length > 0 && !(await this.deliver(messages))) return;
    // Even when the read has ended meanwhile: what a reader taking over goes on from.
    this.next.set(partition, position);
    if (this.settled) return;
    this.options.onPosition?.(partition, String(position));
    if (position >= end) {
      owned.delete(partition);
      this.pending.delete(partition);
      if (this.pending.size === 0) this.finish();
    }
  }

  /** One handler call at a time, whichever broker's answer it is from; true once the handler took the batch. */
  private async deliver(messages: readonly ReceivedMessage[]): Promise<boolean> {
    const before = this.delivering;
    let release: () => void = () => undefined;
    this.delivering = new Promise((resolve) => (release = resolve));
    try {
      await before;
      if (this.settled) return false;
      await this.options.onMessages(messages);
      return true;
    } catch (error) {
      this.stop(error);
      return false;
    } finally {
      release();
    }
  }
}
