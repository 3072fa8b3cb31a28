import type { AgreementId, GatewayKey, LedgerEvent } from '@license-ledger/lease-domain';
import type { PartitionedMessage, ReceivedMessage } from '@license-ledger/platform-kafka';
import type { PartitionLedger } from './partition-ledger';

/**
 * The key directory topic: one record per gateway key, keyed by the key (so every record of a key
 * lands on one partition, in the order the ledger committed them), valued with the agreement that
 * binds it, or a tombstone once nothing does. Compaction keeps only the live bindings.
 *
 * A key is bound to one agreement at a time (reactions.ts in the domain), and its next binding
 * elsewhere is decided only after the revocation's transaction committed: the tombstone always
 * comes before the next binding of the same key.
 */
export interface KeyBindingRecord {
  readonly key: GatewayKey;
  /** Undefined: unbound (a tombstone). */
  readonly agreementId: AgreementId | undefined;
}

export const KEY_BINDING_VERSION = 1;

function bound(key: GatewayKey, agreementId: AgreementId): PartitionedMessage {
  return { key, value: Buffer.from(JSON.stringify({ v: KEY_BINDING_VERSION, agreementId }), 'utf8') };
}

function unbound(key: GatewayKey): PartitionedMessage {
  return { key, value: Buffer.alloc(0), tombstone: true };
}

/**
 * The directory records for a batch of events, in their order, given the partition's state after
 * them. A closed agreement keeps its keys (until each is revoked) but binds none of them any more:
 * each gets a tombstone, as the history's fold (KeyDirectory) unbinds them.
 */
export function keyDirectoryChanges(events: readonly LedgerEvent[], ledger: PartitionLedger): PartitionedMessage[] {
  const records: PartitionedMessage[] = [];
  for (const event of events) {
    switch (event.type) {
      case 'KeyBound':
        records.push(bound(event.data.key, event.data.agreementId));
        break;
      case 'KeyRevoked':
        records.push(unbound(event.data.key));
        break;
      case 'AgreementClosed':
        for (const key of ledger.agreement(event.data.agreementId).keys.keys()) records.push(unbound(key));
        break;
      default:
        break;
    }
  }
  return records;
}

/**
 * Every binding of the partition's open agreements, written again when a partition is claimed: a
 * ledger from before the directory existed (or a directory topic lost) is complete again after its
 * partitions' next claims. Re-writing a binding the topic has is harmless: it is the same value.
 */
export function keyDirectoryBackfill(ledger: PartitionLedger): PartitionedMessage[] {
  const records: PartitionedMessage[] = [];
  for (const agreement of ledger.agreements.values()) {
    if (agreement.status !== 'open') continue;
    for (const key of agreement.keys.keys()) records.push(bound(key, agreement.agreementId));
  }
  return records;
}

/** Reads one record of the directory topic; throws on one this version cannot read. */
export function decodeKeyBinding(message: ReceivedMessage): KeyBindingRecord {
  if (message.key === null || message.key.length === 0) throw new Error('key binding record without a key');
  if (message.value.length === 0) return { key: message.key, agreementId: undefined };
  const json: unknown = JSON.parse(message.value.toString('utf8'));
  if (typeof json !== 'object' || json === null) throw new Error('key binding is not an object');
  const { v, agreementId } = json as { v?: unknown; agreementId?: unknown };
  if (v !== KEY_BINDING_VERSION) throw new Error(`key binding version ${String(v)} is not ${KEY_BINDING_VERSION}`);
  if (typeof agreementId !== 'string' || agreementId.length === 0) throw new Error('key binding without an agreement id');
  return { key: message.key, agreementId };
}
