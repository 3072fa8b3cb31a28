import type { EpochMs } from '@license-ledger/lease-domain';
import { keyId, VerifyKey } from '@license-ledger/protocol-crypto';
import { chainHash, chainLinkOf, checkpointMessage, decodeCheckpointBody, genesisHash, RecordKind } from './chain-records';
import { decodeLedgerRecord } from './records';

/** A record where a partition's chain does not hold. */
export interface ChainProblem {
  readonly partition: number;
  readonly offset: bigint;
  readonly message: string;
}

/** What the chain of one partition looked like, once read. */
export interface PartitionChainSummary {
  readonly partition: number;
  readonly records: number;
  /** Offset of the first version-1 (linked) record; undefined when none (an older version's log). */
  readonly chainStart: bigint | undefined;
  /**
   * The last event before the chain started, if any: an older version's events carry no link.
   * (Ownership markers never carry one; they are covered by the links of the records after them.)
   */
  readonly unchainedUpTo: bigint | undefined;
  /** Where reading began when it was not the log's start (older records deleted): links before it are not checked. */
  readonly readFrom: bigint | undefined;
  readonly checkpoints: number;
  readonly lastCheckpoint: { readonly offset: bigint; readonly at: EpochMs; readonly keyId: string } | undefined;
  /** Records after the last good checkpoint (all linked records when there is none): chained, not yet signed. */
  readonly unsigned: number;
}

export interface ChainVerifierOptions {
  /** Keys whose checkpoints count. Without any, a checkpoint's signature is checked against the key it names. */
  readonly trustedKeys: readonly Uint8Array[];
}

/** Heads remembered to tell "links to an earlier record" (something inserted) from "links to nothing seen". */
const REMEMBERED_HEADS = 10_000;

class PartitionChain {
  /** The chain hash of the last record read; undefined until known when reading did not start at the log's start. */
  head: Buffer | undefined;
  headOffset: bigint | undefined;
  records = 0;
  chainStart: bigint | undefined;
  unchainedUpTo: bigint | undefined;
  checkpoints = 0;
  lastCheckpoint: PartitionChainSummary['lastCheckpoint'];
  unsigned = 0;
  readonly recentHeads = new Map<string, bigint>();

  constructor(
    readonly partition: number,
    readonly readFrom: bigint | undefined,
  ) {
    this.head = readFrom === undefined ? genesisHash(partition) : undefined;
  }

  remember(head: Buffer, offset: bigint): void {
    this.head = head;
    this.headOffset = offset;
    this.recentHeads.set(head.toString('hex'), offset);
    if (this.recentHeads.size > REMEMBERED_HEADS) this.recentHeads.delete(this.recentHeads.keys().next().value as string);
  }
}

/**
 * Checks the events topic's hash chains and checkpoint signatures (docs/ledger-integrity.md) as the
 * records of each partition stream by in offset order; names every record where a chain breaks.
 */
export class ChainVerifier {
  readonly problems: ChainProblem[] = [];
  private readonly chains = new Map<number, PartitionChain>();
  private readonly trusted: ReadonlyMap<string, VerifyKey>;

  constructor(options: ChainVerifierOptions) {
    this.trusted = new Map(options.trustedKeys.map((key) => [keyId(key), VerifyKey.fromBytes(key)]));
  }

  /** Where a partition's reading starts: its chain is known from offset 0 only (earlier records deleted, or a read from a time). */
  begin(partition: number, readFrom: bigint): void {
    this.chains.set(partition, new PartitionChain(partition, readFrom === 0n ? undefined : readFrom));
  }

  observe(partition: number, offset: bigint, value: Buffer): void {
    let chain = this.chains.get(partition);
    if (!chain) this.chains.set(partition, (chain = new PartitionChain(partition, undefined)));
    chain.records++;
    const problem = (message: string): void => void this.problems.push({ partition, offset, message });
    let link;
    try {
      link = chainLinkOf(value);
    } catch (error) {
      problem(`unreadable chain link: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    if (link.kind === 'unlinked') {
      const marker = isOwnershipMarker(value);
      if (chain.chainStart === undefined) {
        if (!marker) chain.unchainedUpTo = offset;
      } else if (!marker) problem(`record without a chain link after the chain started (offset ${chain.chainStart}): not written by the lease service`);
      else chain.unsigned++;
      if (chain.head) chain.remember(chainHash(chain.head, value), offset);
      return;
    }
    chain.chainStart ??= offset;
    if (chain.head && !link.prev.equals(chain.head)) problem(describeBreak(chain, link.prev));
    chain.remember(chainHash(link.prev, value), offset);
    if (link.recordKind !== RecordKind.checkpoint) {
      chain.unsigned++;
      return;
    }
    const checked = this.checkCheckpoint(partition, value, link.prev);
    if (typeof checked === 'string') {
      problem(checked);
      chain.unsigned++;
      return;
    }
    chain.checkpoints++;
    chain.lastCheckpoint = { offset, ...checked };
    chain.unsigned = 0;
  }

  summaries(): PartitionChainSummary[] {
    return [...this.chains.values()]
      .sort((a, b) => a.partition - b.partition)
      .map((chain) => ({
        partition: chain.partition,
        records: chain.records,
        chainStart: chain.chainStart,
        unchainedUpTo: chain.unchainedUpTo,
        readFrom: chain.readFrom,
        checkpoints: chain.checkpoints,
        lastCheckpoint: chain.lastCheckpoint,
        unsigned: chain.unsigned,
      }));
  }

  /** The checkpoint's time and signer, or what is wrong with it. */
  private checkCheckpoint(partition: number, value: Buffer, prev: Buffer): { at: EpochMs; keyId: string } | string {
    let body;
    try {
      body = decodeCheckpointBody(value);
    } catch (error) {
      return `unreadable checkpoint: ${error instanceof Error ? error.message : String(error)}`;
    }
    const signerId = keyId(body.signer);
    let key = this.trusted.get(signerId);
    if (!key && this.trusted.size > 0) return `checkpoint signed by key ${signerId}, which is not a ledger key given to verify (${[...this.trusted.keys()].join(', ')})`;
    try {
      key ??= VerifyKey.fromBytes(body.signer);
    } catch {
      return `checkpoint names signer ${signerId}, which is not an Ed25519 public key`;
    }
    if (!key.verify(checkpointMessage(partition, prev, body.at), body.signature)) return `checkpoint signature does not verify (key ${signerId}): forged or altered`;
    return { at: body.at, keyId: signerId };
  }
}

function isOwnershipMarker(value: Buffer): boolean {
  try {
    return decodeLedgerRecord(value).type === 'PartitionClaimed';
  } catch {
    return false;
  }
}

function describeBreak(chain: PartitionChain, prev: Buffer): string {
  const linkedTo = chain.recentHeads.get(prev.toString('hex'));
  const before = chain.headOffset === undefined ? 'the start of the log' : `the record at offset ${chain.headOffset}`;
  if (linkedTo !== undefined) {
    return `chain broken: this record links to the record at offset ${linkedTo}, not to ${before}: the record(s) after offset ${linkedTo} up to here were inserted or moved`;
  }
  return `chain broken: this record does not link to ${before}: that record was altered, or records between them were removed, or this record was moved`;
}
