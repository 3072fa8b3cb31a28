import type { AgreementId, GatewayKey, LeaseEvent } from '@license-ledger/lease-domain';
import type { MessageBus, ReceivedMessage, Subscription } from '@license-ledger/platform-kafka';
import { decodeLedgerRecord } from './records';

export interface KeyDirectoryOptions {
  readonly bus: MessageBus;
  /** The ledger's event topic. */
  readonly eventsTopic: string;
  /** A consumer group of this instance's own (every instance reads every partition). */
  readonly groupId: string;
  /** Called for records that do not decode; they are skipped. */
  readonly onMalformed?: (message: ReceivedMessage, error: unknown) => void;
}

/**
 * Which agreement each gateway key is bound to, folded from the ledger's events (KeyBound,
 * KeyRevoked, AgreementClosed). A read model for routing a request to its agreement's partition:
 * the lease decider re-checks the binding, so a briefly stale answer costs a denial, never a lock.
 *
 * start() first reads the topic up to its current end (read-committed), so once it resolves the
 * directory knows every binding committed before it was called; then it follows the topic through
 * a consumer group of its own, starting where the first read ended.
 */
/** The event types that change which key belongs to which agreement (see apply()). */
const KEY_EVENT_TYPES: ReadonlySet<string> = new Set<LeaseEvent['type']>(['KeyBound', 'KeyRevoked', 'AgreementClosed']);

export class KeyDirectory {
  private readonly agreementOfKey = new Map<GatewayKey, AgreementId>();
  private readonly keysOfAgreement = new Map<AgreementId, Set<GatewayKey>>();
  /** Per partition: the next offset to apply. Records below it were applied already. */
  private readonly next = new Map<number, bigint>();
  private subscription: Subscription | undefined;
  private loaded = false;

  constructor(private readonly options: KeyDirectoryOptions) {}

  /** True once the history up to start() has been read. */
  get ready(): boolean {
    return this.loaded;
  }

  get size(): number {
    return this.agreementOfKey.size;
  }

  agreementOf(key: GatewayKey): AgreementId | undefined {
    return this.agreementOfKey.get(key);
  }

  async start(): Promise<void> {
    const { bus, eventsTopic } = this.options;
    const ranges = await bus.partitionRanges(eventsTopic);
    for (const range of ranges) this.next.set(range.partition, BigInt(range.start));
    await bus.readRanges({
      topic: eventsTopic,
      ranges,
      onMessages: (messages) => this.applyMessages(messages),
      onPosition: (partition, nextOffset) => this.advance(partition, BigInt(nextOffset)),
    });
    for (const range of ranges) this.advance(range.partition, BigInt(range.end));
    this.loaded = true;
    this.subscription = await bus.subscribe({
      groupId: this.options.groupId,
      topics: [eventsTopic],
      fromBeginning: true,
      commit: 'none',
      // Key bindings change rarely and may take a moment to show; most records here are grants
      // and renewals: read them in a few large fetches a second rather than one per transaction.
      maxWaitMs: 200,
      minBytes: 256 * 1024,
      onMessages: async (messages) => this.applyMessages(messages),
    });
    // The group starts at the beginning; skip what the first read already applied.
    for (const [partition, offset] of this.next) this.subscription.seek(eventsTopic, partition, String(offset));
  }

  async stop(): Promise<void> {
    await this.subscription?.stop();
    this.subscription = undefined;
  }

  /** Applies records in offset order; records already applied (below the partition's position) are skipped. */
  applyMessages(messages: readonly ReceivedMessage[]): void {
    for (const message of messages) {
      const offset = BigInt(message.offset);
      if (offset < (this.next.get(message.partition) ?? 0n)) continue;
      this.next.set(message.partition, offset + 1n);
      // The lease service labels each event with its type: most are grants and renewals, which
      // need no decoding here. Records without the label (claim markers, older writers) are read.
      const type = message.headers['type'];
      if (type !== undefined && !KEY_EVENT_TYPES.has(type)) continue;
      let record;
      try {
        record = decodeLedgerRecord(message.value);
      } catch (error) {
        this.options.onMalformed?.(message, error);
        continue;
      }
      if (record.type !== 'PartitionClaimed') this.apply(record);
    }
  }

  /** Folds one event; events that do not concern key bindings are ignored. */
  apply(event: LeaseEvent): void {
    switch (event.type) {
      case 'KeyBound': {
        const { agreementId, key } = event.data;
        const previous = this.agreementOfKey.get(key);
        if (previous !== undefined && previous !== agreementId) this.keysOfAgreement.get(previous)?.delete(key);
        this.agreementOfKey.set(key, agreementId);
        let keys = this.keysOfAgreement.get(agreementId);
        if (!keys) {
          keys = new Set();
          this.keysOfAgreement.set(agreementId, keys);
        }
        keys.add(key);
        break;
      }
      case 'KeyRevoked': {
        const { agreementId, key } = event.data;
        if (this.agreementOfKey.get(key) === agreementId) this.agreementOfKey.delete(key);
        this.keysOfAgreement.get(agreementId)?.delete(key);
        break;
      }
      case 'AgreementClosed': {
        const { agreementId } = event.data;
        for (const key of this.keysOfAgreement.get(agreementId) ?? []) {
          if (this.agreementOfKey.get(key) === agreementId) this.agreementOfKey.delete(key);
        }
        this.keysOfAgreement.delete(agreementId);
        break;
      }
      default:
        break;
    }
  }

  private advance(partition: number, nextOffset: bigint): void {
    if (nextOffset > (this.next.get(partition) ?? 0n)) this.next.set(partition, nextOffset);
  }
}
