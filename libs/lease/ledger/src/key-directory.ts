import type { AgreementId, EpochMs, GatewayKey, LeaseEvent, LedgerEvent } from '@license-ledger/lease-domain';
import type { MessageBus, ReceivedMessage, Subscription } from '@license-ledger/platform-kafka';
import { decodeKeyBinding } from './key-directory-records';
import { decodeLedgerRecord, isLedgerEvent } from './records';

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
 * Which agreement each gateway key is bound to, folded from the ledger's whole history of events
 * (KeyBound, KeyRevoked, AgreementClosed): what the key directory topic must agree with (tests,
 * checks). The ingress routes by KeyBindingDirectory below, which reads the live bindings only;
 * either way the lease decider re-checks the binding, so a briefly stale answer costs a denial,
 * never a lock.
 *
 * One answer per key, whatever order the partitions are read in. The ledger binds a key to one
 * agreement at a time, but the revocation on one agreement's partition and the later binding on
 * another's may be read in either order; so every binding is kept until its own revocation, and
 * while a key shows two (a partition read behind the other, or a log from before bindings were
 * exclusive), the latest bound is the answer.
 *
 * start() first reads the topic up to its current end (read-committed), so once it resolves the
 * directory knows every binding committed before it was called; then it follows the topic through
 * a consumer group of its own, starting where the first read ended.
 */
/** The event types that change which key belongs to which agreement (see apply()). */
const BINDING_EVENT_TYPES: ReadonlySet<string> = new Set<LeaseEvent['type']>(['KeyBound', 'KeyRevoked', 'AgreementClosed']);

export class KeyDirectory {
  /** Per key, the agreements that bind it and when each bound it (nearly always exactly one). */
  private readonly bindings = new Map<GatewayKey, Map<AgreementId, EpochMs>>();
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
    return this.bindings.size;
  }

  agreementOf(key: GatewayKey): AgreementId | undefined {
    const agreements = this.bindings.get(key);
    if (!agreements) return undefined;
    let latest: [AgreementId, EpochMs] | undefined;
    for (const entry of agreements) {
      if (!latest || entry[1] > latest[1] || (entry[1] === latest[1] && entry[0] > latest[0])) latest = entry;
    }
    return latest?.[0];
  }

  /** Every key with its answer, for comparing with the key directory topic (tests, verify). */
  entries(): Map<GatewayKey, AgreementId> {
    const answers = new Map<GatewayKey, AgreementId>();
    for (const key of this.bindings.keys()) {
      const agreementId = this.agreementOf(key);
      if (agreementId !== undefined) answers.set(key, agreementId);
    }
    return answers;
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
      if (type !== undefined && !BINDING_EVENT_TYPES.has(type)) continue;
      let record;
      try {
        record = decodeLedgerRecord(message.value);
      } catch (error) {
        this.options.onMalformed?.(message, error);
        continue;
      }
      if (isLedgerEvent(record)) this.apply(record);
    }
  }

  /** Folds one event; events that do not concern key bindings are ignored. */
  apply(event: LedgerEvent): void {
    switch (event.type) {
      case 'KeyBound': {
        const { agreementId, key } = event.data;
        let agreements = this.bindings.get(key);
        if (!agreements) this.bindings.set(key, (agreements = new Map()));
        agreements.set(agreementId, event.metadata.at);
        let keys = this.keysOfAgreement.get(agreementId);
        if (!keys) this.keysOfAgreement.set(agreementId, (keys = new Set()));
        keys.add(key);
        break;
      }
      case 'KeyRevoked':
        this.unbind(event.data.key, event.data.agreementId);
        this.keysOfAgreement.get(event.data.agreementId)?.delete(event.data.key);
        break;
      case 'AgreementClosed': {
        const { agreementId } = event.data;
        for (const key of this.keysOfAgreement.get(agreementId) ?? []) this.unbind(key, agreementId);
        this.keysOfAgreement.delete(agreementId);
        break;
      }
      default:
        break;
    }
  }

  private unbind(key: GatewayKey, agreementId: AgreementId): void {
    const agreements = this.bindings.get(key);
    agreements?.delete(agreementId);
    if (agreements?.size === 0) this.bindings.delete(key);
  }

  private advance(partition: number, nextOffset: bigint): void {
    if (nextOffset > (this.next.get(partition) ?? 0n)) this.next.set(partition, nextOffset);
  }
}

/**
 * Which agreement each gateway key is bound to, read from the key directory topic (compacted, one
 * record per key, written by the lease service in the same transactions as the events that change
 * a binding: key-directory-records.ts). What the ingress routes by: loading it reads the live
 * bindings only, however long the ledger's history. Fed records of one partition in offset order
 * (the bus transport's catch-up route); every record of a key is on one partition.
 */
export class KeyBindingDirectory {
  private readonly bindings = new Map<GatewayKey, AgreementId>();

  constructor(private readonly onMalformed?: (message: ReceivedMessage, error: unknown) => void) {}

  get size(): number {
    return this.bindings.size;
  }

  agreementOf(key: GatewayKey): AgreementId | undefined {
    return this.bindings.get(key);
  }

  /** Every binding, for comparing with the history's fold (tests, verify). */
  entries(): Map<GatewayKey, AgreementId> {
    return new Map(this.bindings);
  }

  applyRecords(messages: readonly ReceivedMessage[]): void {
    for (const message of messages) {
      let record;
      try {
        record = decodeKeyBinding(message);
      } catch (error) {
        this.onMalformed?.(message, error);
        continue;
      }
      if (record.agreementId === undefined) this.bindings.delete(record.key);
      else this.bindings.set(record.key, record.agreementId);
    }
  }
}
