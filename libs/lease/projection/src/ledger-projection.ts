import { Holder, LeaseEvent, LedgerEvent } from '@license-ledger/lease-domain';
import { isLedgerEvent, type LedgerRecord } from '@license-ledger/lease-ledger';
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
  /** Ownership markers and chain checkpoints: not events, never projected. */
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
      if (isLedgerEvent(positioned.record)) return true;
      markers++;
      return false;
    });
    if (events.length === 0) return { applied, duplicates, markers };
    await this.prisma.$transaction(
      async (tx) => {
        const inserted = await insertEventRows(tx, events);
        // Renewals are nearly all of a live ledger's events: consecutive ones are applied with a
        // few set-based statements instead of three or four queries each.
        let renewals: LockRenewedEvent[] = [];
        for (const { partition, offset, record } of events) {
          if (!isLedgerEvent(record)) continue;
          if (!inserted.has(positionKey(partition, offset))) {
            duplicates++;
            continue;
          }
          applied++;
          if (record.type === 'LockRenewed') {
            renewals.push(record);
            continue;
          }
          if (renewals.length > 0) await applyRenewals(tx, renewals);
          renewals = [];
          await applyEvent(tx, record);
        }
        if (renewals.length > 0) await applyRenewals(tx, renewals);
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

type LockRenewedEvent = Extract<LeaseEvent, { type: 'LockRenewed' }>;

const positionKey = (partition: number, offset: bigint): string => `${partition}:${offset}`;

/**
 * Inserts the events' rows (ON CONFLICT DO NOTHING) in one statement, in log order, and returns
 * the positions inserted now: exactly the events this transaction must apply.
 */
async function insertEventRows(tx: Tx, events: readonly PositionedRecord[]): Promise<Set<string>> {
  const rows = events.flatMap(({ partition, offset, record }, n) =>
    !isLedgerEvent(record)
      ? []
      : [{ n, p: partition, o: offset.toString(), t: record.type, a: record.data.agreementId, r: record.metadata.requestId, at: record.metadata.at, j: record }],
  );
  const inserted = await tx.$queryRawUnsafe<Array<{ partition: number; offset: bigint | string }>>(
    `INSERT INTO ledger_event (partition, "offset", type, agreement_id, request_id, at, payload)
     SELECT r.p, r.o, r.t, r.a, r.r, to_timestamp(r.at / 1000.0), r.j
     FROM jsonb_to_recordset($1::jsonb) AS r(p int, o bigint, t text, a text, r text, at bigint, j jsonb, n bigint)
     ORDER BY r.n
     ON CONFLICT (partition, "offset") DO NOTHING
     RETURNING partition, "offset"`,
    JSON.stringify(rows),
  );
  return new Set(inserted.map((row) => `${row.partition}:${String(row.offset)}`));
}

/**
 * Applies consecutive LockRenewed events as `evolve` would one by one: a renewal of a lock that is
 * not recorded grants it (the first such renewal's time and expiry), a renewal only ever moves a
 * lock's expiry later, and a holder joins once (at its first renewal).
 */
async function applyRenewals(tx: Tx, renewals: readonly LockRenewedEvent[]): Promise<void> {
  const rows = renewals.map(({ data, metadata }, n) => ({
    n,
    a: data.agreementId,
    c: data.configHash,
    e: data.expiresAt,
    at: metadata.at,
    k: data.holder.key,
    h: data.holder.hostname,
    p: data.holder.processId,
    s: data.holder.sessionId,
  }));
  const json = JSON.stringify(rows);
  const recordset = `jsonb_to_recordset($1::jsonb) AS r(a text, c text, e bigint, at bigint, k text, h text, p int, s text, n bigint)`;
  // Sorted, so concurrent projectors lock rows in one order.
  await tx.$executeRawUnsafe(
    `INSERT INTO live_lock (agreement_id, config_hash, granted_at, expires_at)
     SELECT DISTINCT ON (r.a, r.c) r.a, r.c, to_timestamp(r.at / 1000.0), to_timestamp(r.e / 1000.0)
     FROM ${recordset} ORDER BY r.a, r.c, r.n
     ON CONFLICT (agreement_id, config_hash) DO NOTHING`,
    json,
  );
  await tx.$executeRawUnsafe(
    `UPDATE live_lock l SET expires_at = m.expires_at
     FROM (SELECT r.a, r.c, to_timestamp(max(r.e) / 1000.0) AS expires_at FROM ${recordset} GROUP BY r.a, r.c ORDER BY r.a, r.c) m
     WHERE l.agreement_id = m.a AND l.config_hash = m.c AND l.expires_at < m.expires_at`,
    json,
  );
  await tx.$executeRawUnsafe(
    `INSERT INTO lock_holder (agreement_id, config_hash, session_id, key, hostname, process_id, joined_at)
     SELECT DISTINCT ON (r.a, r.c, r.s, r.k, r.h, r.p) r.a, r.c, r.s, r.k, r.h, r.p, to_timestamp(r.at / 1000.0)
     FROM ${recordset} ORDER BY r.a, r.c, r.s, r.k, r.h, r.p, r.n
     ON CONFLICT DO NOTHING`,
    json,
  );
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

/** The last holder's release frees the lock, or keeps it until `keptUntil` (lingering, or kept by a live support grant). */
async function applyReleased(tx: Tx, event: Extract<LeaseEvent, { type: 'LockReleased' }>): Promise<void> {
  const { agreementId, configHash, holder, keptUntil } = event.data;
  await tx.lockHolder.deleteMany({ where: holderKey(agreementId, configHash, holder) });
  if ((await tx.lockHolder.count({ where: { agreementId, configHash } })) > 0) return;
  if (keptUntil === undefined) {
    await tx.liveLock.deleteMany({ where: { agreementId, configHash } });
    return;
  }
  const at = new Date(event.metadata.at);
  await tx.liveLock.updateMany({ where: { agreementId, configHash }, data: { expiresAt: new Date(keptUntil), releasedAt: at } });
  // A support grant that has run out no longer keeps the lock: it merely lingers (as in the domain).
  await tx.liveLock.updateMany({ where: { agreementId, configHash, supportUntil: { lte: at } }, data: noSupport });
}

const noSupport = { supportKey: null, supportUntil: null, supportIssuedBy: null, supportReason: null, supportOverdraft: false };

/** Locks the hash anew, or keeps a live lock at least until `until`, holding the longer of two grants. */
async function applySupportIssued(tx: Tx, event: Extract<LeaseEvent, { type: 'SupportLockIssued' }>): Promise<void> {
  const { agreementId, configHash, key, until, issuedBy, reason, overdraft } = event.data;
  const at = new Date(event.metadata.at);
  const grant = { supportKey: key, supportUntil: new Date(until), supportIssuedBy: issuedBy, supportReason: reason, supportOverdraft: overdraft };
  const lock = await tx.liveLock.findUnique({ where: { agreementId_configHash: { agreementId, configHash } } });
  if (!lock || lock.expiresAt <= at) {
    await tx.liveLock.deleteMany({ where: { agreementId, configHash } });
    await tx.liveLock.create({ data: { agreementId, configHash, grantedAt: at, expiresAt: new Date(until), ...grant } });
    return;
  }
  const keepsOlder = lock.supportUntil !== null && lock.supportUntil.getTime() > until;
  await tx.liveLock.update({
    where: { agreementId_configHash: { agreementId, configHash } },
    data: { expiresAt: new Date(Math.max(lock.expiresAt.getTime(), until)), ...(keepsOlder ? {} : grant) },
  });
}

async function applyEvent(tx: Tx, event: LedgerEvent): Promise<void> {
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
        lingerMs: BigInt(event.data.lingerMs ?? 0),
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
    case 'LockReleased':
      await applyReleased(tx, event);
      return;
    case 'SupportLockIssued':
      await applySupportIssued(tx, event);
      return;
    case 'LockForceReleased':
    case 'LockExpired':
      // A forced release frees at once; the holders it refuses are the ledger's to remember, not shown here.
      await tx.liveLock.deleteMany({ where: { agreementId, configHash: event.data.configHash } });
      return;
    // In the history (ledger_event) only. The key's own stream (reserved, refused, released) is
    // how the ledger keeps a key on one agreement; gateway_key shows the bindings themselves.
    case 'RequestDenied':
    case 'KeyBindRequested':
    case 'KeyReserved':
    case 'KeyReservationRefused':
    case 'KeyReleased':
      return;
    default: {
      const unknown: never = event;
      throw new Error(`cannot project event ${JSON.stringify(unknown)}`);
    }
  }
}
