import {
  AgreementState,
  EpochMs,
  Holder,
  LockKind,
  LockPeriodBounds,
  locksOf,
  SupportGrant,
} from '@license-ledger/lease-domain';
import { PrismaClient } from '@license-ledger/platform-database';

export interface ProjectedHolder extends Holder {
  readonly joinedAt: EpochMs;
}

export interface ProjectedLock {
  readonly configHash: string;
  /** As in the domain: held (has holders), support (kept by a support grant) or lingering. */
  readonly kind: LockKind;
  readonly grantedAt: EpochMs;
  readonly expiresAt: EpochMs;
  readonly holders: readonly ProjectedHolder[];
  /** When the last holder released a lingering lock. */
  readonly releasedAt?: EpochMs;
  readonly support?: SupportGrant;
}

export interface ProjectedAgreement {
  readonly id: string;
  readonly name: string;
  readonly licenses: number;
  readonly bounds: LockPeriodBounds;
  readonly lingerMs: number;
  readonly status: 'open' | 'closed';
  readonly openedAt: EpochMs;
  readonly updatedAt: EpochMs;
  /** Keys currently bound (revoked ones are left out). */
  readonly keys: readonly string[];
  /** Recorded locks, including any past expiry whose LockExpired is not written yet. */
  readonly locks: readonly ProjectedLock[];
}

/** Every projected agreement with its bound keys and recorded locks, sorted by id. */
export async function readProjection(prisma: PrismaClient): Promise<ProjectedAgreement[]> {
  const [agreements, keys, locks, holders] = await Promise.all([
    prisma.agreement.findMany({ orderBy: { id: 'asc' } }),
    prisma.gatewayKey.findMany({ where: { status: 'bound' }, orderBy: [{ agreementId: 'asc' }, { key: 'asc' }] }),
    prisma.liveLock.findMany({ orderBy: [{ agreementId: 'asc' }, { configHash: 'asc' }] }),
    prisma.lockHolder.findMany({ orderBy: [{ joinedAt: 'asc' }, { sessionId: 'asc' }] }),
  ]);
  const group = <Row extends { agreementId: string }>(rows: readonly Row[]): Map<string, Row[]> => {
    const byAgreement = new Map<string, Row[]>();
    for (const row of rows) byAgreement.set(row.agreementId, [...(byAgreement.get(row.agreementId) ?? []), row]);
    return byAgreement;
  };
  const keysOf = group(keys);
  const locksOfAgreement = group(locks);
  const holdersOfLock = new Map<string, ProjectedHolder[]>();
  for (const h of holders) {
    const id = `${h.agreementId}\u0000${h.configHash}`;
    holdersOfLock.set(id, [...(holdersOfLock.get(id) ?? []), { key: h.key, hostname: h.hostname, processId: h.processId, sessionId: h.sessionId, joinedAt: h.joinedAt.getTime() }]);
  }
  return agreements.map((a) => ({
    id: a.id,
    name: a.name,
    licenses: a.licenses,
    bounds: { minMs: Number(a.minPeriodMs), maxMs: Number(a.maxPeriodMs), defaultMs: Number(a.defaultPeriodMs) },
    lingerMs: Number(a.lingerMs),
    status: a.status,
    openedAt: a.openedAt.getTime(),
    updatedAt: a.updatedAt.getTime(),
    keys: (keysOf.get(a.id) ?? []).map((k) => k.key),
    locks: (locksOfAgreement.get(a.id) ?? []).map((l) => projectedLock(l, holdersOfLock.get(`${l.agreementId}\u0000${l.configHash}`) ?? [])),
  }));
}

type LockRow = Awaited<ReturnType<PrismaClient['liveLock']['findMany']>>[number];

function projectedLock(row: LockRow, holders: readonly ProjectedHolder[]): ProjectedLock {
  const { supportKey, supportUntil, supportIssuedBy, supportReason } = row;
  const support: SupportGrant | undefined =
    supportKey !== null && supportUntil !== null && supportIssuedBy !== null && supportReason !== null
      ? { key: supportKey, until: supportUntil.getTime(), issuedBy: supportIssuedBy, reason: supportReason, overdraft: row.supportOverdraft }
      : undefined;
  const kind: LockKind = holders.length > 0 ? 'held' : support ? 'support' : 'lingering';
  return {
    configHash: row.configHash,
    kind,
    grantedAt: row.grantedAt.getTime(),
    expiresAt: row.expiresAt.getTime(),
    holders,
    ...(kind === 'lingering' && row.releasedAt ? { releasedAt: row.releasedAt.getTime() } : {}),
    ...(support ? { support } : {}),
  };
}

/** Projected events per partition: how many, and the highest offset. */
export async function projectedEventCounts(prisma: PrismaClient): Promise<Map<number, { readonly count: number; readonly maxOffset: bigint }>> {
  const rows = await prisma.ledgerEvent.groupBy({ by: ['partition'], _count: { _all: true }, _max: { offset: true } });
  return new Map(rows.map((r) => [r.partition, { count: r._count._all, maxOffset: r._max.offset ?? -1n }]));
}

const holderId = (h: Holder): string => JSON.stringify([h.key, h.hostname, h.processId, h.sessionId]);
const sameSet = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');

/**
 * Differences between the fold of the log (domain states) and the projection, one line each.
 * Agreements that were never opened (only denials) have no projected row and are not expected.
 */
export function projectionDifferences(folded: Iterable<AgreementState>, projected: readonly ProjectedAgreement[]): string[] {
  const problems: string[] = [];
  const rows = new Map(projected.map((a) => [a.id, a]));
  for (const state of folded) {
    if (state.status === 'unopened') continue;
    const row = rows.get(state.agreementId);
    rows.delete(state.agreementId);
    const about = `agreement "${state.agreementId}"`;
    if (!row) {
      problems.push(`${about}: in the log but not in the projection`);
      continue;
    }
    const expected = { status: state.status, name: state.name, licenses: state.licenses, lingerMs: state.lingerMs, ...state.bounds };
    const actual = { status: row.status, name: row.name, licenses: row.licenses, lingerMs: row.lingerMs, ...row.bounds };
    for (const field of Object.keys(expected) as Array<keyof typeof expected>) {
      if (expected[field] !== actual[field]) problems.push(`${about}: ${field} is ${JSON.stringify(actual[field])} in the projection, ${JSON.stringify(expected[field])} in the log`);
    }
    if (!sameSet([...state.keys.keys()], row.keys)) problems.push(`${about}: bound keys differ (log ${state.keys.size}, projection ${row.keys.length})`);
    const projectedLocks = new Map(row.locks.map((l) => [l.configHash, l]));
    for (const lock of locksOf(state)) {
      const projectedLock = projectedLocks.get(lock.configHash);
      projectedLocks.delete(lock.configHash);
      if (!projectedLock) problems.push(`${about}: lock ${lock.configHash} is missing from the projection`);
      else if (projectedLock.expiresAt !== lock.expiresAt) problems.push(`${about}: lock ${lock.configHash} expires at ${projectedLock.expiresAt} in the projection, ${lock.expiresAt} in the log`);
      else if (!sameSet(lock.holders.map(holderId), projectedLock.holders.map(holderId))) problems.push(`${about}: lock ${lock.configHash} has different holders`);
      else if (projectedLock.kind !== lock.kind) problems.push(`${about}: lock ${lock.configHash} is ${projectedLock.kind} in the projection, ${lock.kind} in the log`);
      else if (JSON.stringify(projectedLock.support ?? null) !== JSON.stringify(lock.support ?? null)) problems.push(`${about}: lock ${lock.configHash} has a different support grant`);
    }
    for (const extra of projectedLocks.keys()) problems.push(`${about}: lock ${extra} is in the projection but not in the log`);
  }
  for (const extra of rows.keys()) problems.push(`agreement "${extra}": in the projection but not in the log`);
  return problems;
}

