import { Holder, LeaseEvent } from '@license-ledger/lease-domain';
import type { LedgerRecord } from '@license-ledger/lease-ledger';
import { Prisma, PrismaClient } from '@license-ledger/platform-database';

/** A ledger record with its position in the events topic. */
export interface PositionedRecord {
  readonly partition: number;
  readonly offset: bigint;
  readonly record: LedgerRecord;
}

export interface BatchResult {
  /** Events applied now. */
  readonly applied: number;
  /** Events already projected before (a redelivery, a second projector, a replay). */
  readonly duplicates: number;
  /** Ownership markers: not events, never projected. */
  readonly markers: number;
}

export interface LedgerProjectionOptions {
  /** Longest a batch's transaction may run; large batches are split by the caller, not here. */
  readonly transactionTimeoutMs?: number;
}

type Tx = Prisma.TransactionClient;

/**
 * The ledger's read model in PostgreSQL. Applying is idempotent by log position: an event's row in
 * `ledger_event` is inserted (ON CONFLICT DO NOTHING) in the same transaction as its projection
 * change, so the change happens exactly when the row is new. Redeliveries, two projectors during a
 * rebalance, or a replay over a live projection therefore never apply an event twice: a second
 * writer of the same position waits on the row's key and then finds it taken.
 *
 * Events are applied like the domain's `evolve` (including its tolerance of odd logs), so the
 * projection equals the fold of the log; `ledger-cli verify` checks exactly that.
 */
export class LedgerProjection {
  private readonly transactionTimeoutMs: number;

  constructor(
    private readonly prisma: PrismaClient,
    options: LedgerProjectionOptions = {},
  ) {
    this.transactionTimeoutMs = options.transactionTimeoutMs ?? 60_000;
  }

  /** Applies one record; false when it was already projected (or is an ownership marker). */
  async apply(partition: number, offset: bigint, record: LedgerRecord): Promise<boolean> {
    return (await this.applyBatch([{ partition, offset, record }])).applied === 1;
  }

  /** Applies records in the given order, all in one transaction: all of them or none. */
  async applyBatch(records: readonly PositionedRecord[]): Promise<BatchResult> {
    let applied = 0;
    let duplicates = 0;
    let markers = 0;
    const events = records.filter((positioned) => {
      if (positioned.record.type !== 'PartitionClaimed') return true;
      markers++;
      return false;
    });
    if (events.length === 0) return { applied, duplicates, markers };
    await this.prisma.$transaction(
      async (tx) => {
        for (const { partition, offset, record } of events) {
          if (record.type === 'PartitionClaimed') continue;
          if (await insertEventRow(tx, partition, offset, record)) {
            await applyEvent(tx, record);
            applied++;
          } else {
            duplicates++;
          }
        }
      },
      { timeout: this.transactionTimeoutMs, maxWait: 30_000 },
    );
    return { applied, duplicates, markers };
  }

  /**
   * Empties every projection table, to project the log again from its beginning. Stop the
   * projectors first: one running meanwhile would apply later events onto the emptied tables.
   */
  async rebuild(): Promise<void> {
    await this.prisma.$transaction(
      [
        this.prisma.lockHolder.deleteMany(),
        this.prisma.liveLock.deleteMany(),
        this.prisma.gatewayKey.deleteMany(),
        this.prisma.agreement.deleteMany(),
        this.prisma.ledgerEvent.deleteMany(),
      ],
    );
  }
}

async function insertEventRow(tx: Tx, partition: number, offset: bigint, event: LeaseEvent): Promise<boolean> {
  // createMany with skipDuplicates is INSERT ... ON CONFLICT DO NOTHING; its count says who won.
  const { count } = await tx.ledgerEvent.createMany({
    data: [
      {
        partition,
        offset,
        type: event.type,
        agreementId: event.data.agreementId,
        requestId: event.metadata.requestId,
        at: new Date(event.metadata.at),
        payload: event as unknown as Prisma.InputJsonObject,
      },
    ],
    skipDuplicates: true,
  });
  return count === 1;
}

function holderKey(agreementId: string, configHash: string, holder: Holder): Prisma.LockHolderWhereInput {
  return { agreementId, configHash, key: holder.key, hostname: holder.hostname, processId: holder.processId, sessionId: holder.sessionId };
}

async function grantLock(tx: Tx, agreementId: string, configHash: string, holder: Holder, expiresAt: number, at: Date): Promise<void> {
  // A grant replaces whatever was recorded for the hash (as `evolve` does), holders included.
  await tx.liveLock.deleteMany({ where: { agreementId, configHash } });
  await tx.liveLock.create({
    data: {
      agreementId,
      configHash,
      grantedAt: at,
      expiresAt: new Date(expiresAt),
      holders: { create: [{ key: holder.key, hostname: holder.hostname, processId: holder.processId, sessionId: holder.sessionId, joinedAt: at }] },
    },
  });
}

async function applyEvent(tx: Tx, event: LeaseEvent): Promise<void> {
  const at = new Date(event.metadata.at);
  const { agreementId } = event.data;
  switch (event.type) {
    case 'AgreementOpened':
    case 'AgreementChanged': {
      const { name, licenses, bounds } = event.data;
      const fields = {
        name,
        licenses,
        minPeriodMs: BigInt(bounds.minMs),
        maxPeriodMs: BigInt(bounds.maxMs),
        defaultPeriodMs: BigInt(bounds.defaultMs),
        status: 'open' as const,
        updatedAt: at,
      };
      await tx.agreement.upsert({ where: { id: agreementId }, create: { id: agreementId, openedAt: at, ...fields }, update: fields });
      return;
    }
    case 'AgreementClosed':
      await tx.agreement.updateMany({ where: { id: agreementId }, data: { status: 'closed', updatedAt: at } });
      return;
    case 'KeyBound':
      await tx.gatewayKey.upsert({
        where: { agreementId_key: { agreementId, key: event.data.key } },
        create: { agreementId, key: event.data.key, status: 'bound', boundAt: at },
        update: { status: 'bound', boundAt: at, revokedAt: null },
      });
      return;
    case 'KeyRevoked':
      await tx.gatewayKey.updateMany({ where: { agreementId, key: event.data.key, status: 'bound' }, data: { status: 'revoked', revokedAt: at } });
      return;
    case 'LockGranted':
      await grantLock(tx, agreementId, event.data.configHash, event.data.holder, event.data.expiresAt, at);
      return;
    case 'LockRenewed': {
      const { configHash, holder, expiresAt } = event.data;
      const lock = await tx.liveLock.findUnique({ where: { agreementId_configHash: { agreementId, configHash } } });
      if (!lock) {
        await grantLock(tx, agreementId, configHash, holder, expiresAt, at);
        return;
      }
      if (expiresAt > lock.expiresAt.getTime()) {
        await tx.liveLock.update({ where: { agreementId_configHash: { agreementId, configHash } }, data: { expiresAt: new Date(expiresAt) } });
      }
      await tx.lockHolder.createMany({
        data: [{ agreementId, configHash, key: holder.key, hostname: holder.hostname, processId: holder.processId, sessionId: holder.sessionId, joinedAt: at }],
        skipDuplicates: true,
      });
      return;
    }
    case 'LockReleased': {
      const { configHash, holder } = event.data;
      await tx.lockHolder.deleteMany({ where: holderKey(agreementId, configHash, holder) });
      // The lock frees with its last holder.
      if ((await tx.lockHolder.count({ where: { agreementId, configHash } })) === 0) {
        await tx.liveLock.deleteMany({ where: { agreementId, configHash } });
      }
      return;
    }
    case 'LockExpired':
      await tx.liveLock.deleteMany({ where: { agreementId, configHash: event.data.configHash } });
      return;
    case 'RequestDenied':
      return;
    default: {
      const unknown: never = event;
      throw new Error(`cannot project event ${JSON.stringify(unknown)}`);
    }
  }
}
