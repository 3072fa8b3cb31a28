import type { LeaseEvent } from '@license-ledger/lease-domain';
import type { Pool, PoolClient } from 'pg';
import { AgreementUsage, foldUsage, UsageFoldResult } from './usage-fold';

/** A record of the events topic at its position; `event` is absent for what the fold skips (markers, key streams, unreadable records). */
export interface PositionedEvent {
  readonly offset: string;
  readonly event: LeaseEvent | undefined;
}

export interface UsageStoreResult {
  /** Events folded now. */
  readonly applied: number;
  /** Records at or past which the partition was already folded (a re-delivery, a second consumer). */
  readonly duplicates: number;
}

/**
 * The agreements of one partition as this replica last stored them, valid while the stored offset
 * is still `nextOffset` (nobody else folded the partition since): then the database need not be read.
 */
export interface PartitionCache {
  nextOffset: bigint | undefined;
  readonly agreements: Map<string, AgreementUsage>;
}

export const newPartitionCache = (): PartitionCache => ({ nextOffset: undefined, agreements: new Map() });

/**
 * Stores the usage history. Each call folds one partition's records in one transaction that also
 * moves the partition's stored offset past them. The offset row is locked first, so two consumers
 * of a partition (a rebalance) take turns, and the second one finds the records already folded and
 * skips them: every event is folded exactly once, whatever Kafka re-delivers.
 */
export class UsageHistoryStore {
  constructor(private readonly pool: Pool) {}

  async store(topic: string, partition: number, records: readonly PositionedEvent[], cache?: PartitionCache): Promise<UsageStoreResult> {
    const last = records[records.length - 1];
    if (!last) return { applied: 0, duplicates: 0 };
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const next = await lockOffset(client, topic, partition);
      const fresh = records.filter((record) => BigInt(record.offset) >= next);
      const events = fresh.flatMap((record) => (record.event ? [record.event] : []));
      let folded: UsageFoldResult | undefined;
      if (events.length > 0) {
        const prior = await this.priorStates(client, events, next, cache);
        folded = foldUsage(prior, events);
        await writeFold(client, folded);
      }
      const nextOffset = fresh.length > 0 ? BigInt(last.offset) + 1n : next;
      if (fresh.length > 0) await client.query(`UPDATE usage_history_offset SET next_offset = $3 WHERE topic = $1 AND partition = $2`, [topic, partition, nextOffset.toString()]);
      await client.query('COMMIT');
      if (cache) {
        if (cache.nextOffset !== next) cache.agreements.clear();
        for (const [id, state] of folded?.agreements ?? []) cache.agreements.set(id, state);
        cache.nextOffset = nextOffset;
      }
      return { applied: events.length, duplicates: records.length - fresh.length };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (cache) cache.nextOffset = undefined;
      throw error;
    } finally {
      client.release();
    }
  }

  /** The stored state of the batch's agreements: from the cache while it is current, else read. */
  private async priorStates(client: PoolClient, events: readonly LeaseEvent[], next: bigint, cache: PartitionCache | undefined): Promise<Map<string, AgreementUsage>> {
    const ids = [...new Set(events.map((event) => event.data.agreementId))];
    const prior = new Map<string, AgreementUsage>();
    const current = cache !== undefined && cache.nextOffset === next;
    const missing = current ? ids.filter((id) => !cache.agreements.has(id)) : ids;
    if (current) {
      for (const id of ids) {
        const state = cache.agreements.get(id);
        if (state) prior.set(id, state);
      }
    }
    if (missing.length === 0) return prior;
    const agreements = await client.query<{ agreement_id: string; status: 'open' | 'closed'; licenses: string; opened_ms: string; last_ms: string }>(
      `SELECT agreement_id, status, licenses, (extract(epoch from opened_at) * 1000)::bigint AS opened_ms, (extract(epoch from last_event_at) * 1000)::bigint AS last_ms
       FROM usage_history_agreement WHERE agreement_id = ANY($1::text[])`,
      [missing],
    );
    if (agreements.rows.length === 0) return prior;
    const locks = new Map<string, Map<string, number>>();
    const lockRows = await client.query<{ agreement_id: string; config_hash: string; expires_at_ms: string }>(
      `SELECT agreement_id, config_hash, expires_at_ms FROM usage_history_lock WHERE agreement_id = ANY($1::text[])`,
      [agreements.rows.map((row) => row.agreement_id)],
    );
    for (const row of lockRows.rows) {
      let of = locks.get(row.agreement_id);
      if (!of) locks.set(row.agreement_id, (of = new Map()));
      of.set(row.config_hash, Number(row.expires_at_ms));
    }
    for (const row of agreements.rows) {
      prior.set(row.agreement_id, {
        agreementId: row.agreement_id,
        status: row.status,
        licenses: Number(row.licenses),
        openedAt: Number(row.opened_ms),
        lastEventAt: Number(row.last_ms),
        locks: locks.get(row.agreement_id) ?? new Map(),
      });
    }
    return prior;
  }
}

/** The partition's next offset to fold, its row locked until the transaction ends. */
async function lockOffset(client: PoolClient, topic: string, partition: number): Promise<bigint> {
  await client.query(`INSERT INTO usage_history_offset (topic, partition, next_offset) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING`, [topic, partition]);
  const { rows } = await client.query<{ next_offset: string }>(`SELECT next_offset FROM usage_history_offset WHERE topic = $1 AND partition = $2 FOR UPDATE`, [topic, partition]);
  return BigInt(rows[0]?.next_offset ?? '0');
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Set-based writes of one fold (sorted, so concurrent writers lock rows in one order). */
async function writeFold(client: PoolClient, folded: UsageFoldResult): Promise<void> {
  const agreements = [...folded.agreements.values()]
    .sort((a, b) => (a.agreementId < b.agreementId ? -1 : 1))
    .map((a) => ({ a: a.agreementId, s: a.status, l: String(a.licenses), o: iso(a.openedAt), t: iso(a.lastEventAt) }));
  if (agreements.length > 0) {
    await client.query(
      `INSERT INTO usage_history_agreement (agreement_id, status, licenses, opened_at, last_event_at)
       SELECT r.a, r.s, r.l::bigint, r.o::timestamptz, r.t::timestamptz FROM jsonb_to_recordset($1::jsonb) AS r(a text, s text, l text, o text, t text)
       ON CONFLICT (agreement_id) DO UPDATE SET status = excluded.status, licenses = excluded.licenses, last_event_at = excluded.last_event_at`,
      [JSON.stringify(agreements)],
    );
  }
  const changes = [...folded.lockChanges].sort((a, b) => (a.agreementId + a.configHash < b.agreementId + b.configHash ? -1 : 1));
  const gone = changes.filter((c) => c.expiresAt === null).map((c) => ({ a: c.agreementId, c: c.configHash }));
  const set = changes.flatMap((c) => (c.expiresAt === null ? [] : [{ a: c.agreementId, c: c.configHash, e: String(c.expiresAt) }]));
  if (gone.length > 0) {
    await client.query(
      `DELETE FROM usage_history_lock l USING jsonb_to_recordset($1::jsonb) AS r(a text, c text) WHERE l.agreement_id = r.a AND l.config_hash = r.c`,
      [JSON.stringify(gone)],
    );
  }
  if (set.length > 0) {
    await client.query(
      `INSERT INTO usage_history_lock (agreement_id, config_hash, expires_at_ms)
       SELECT r.a, r.c, r.e::bigint FROM jsonb_to_recordset($1::jsonb) AS r(a text, c text, e text)
       ON CONFLICT (agreement_id, config_hash) DO UPDATE SET expires_at_ms = excluded.expires_at_ms`,
      [JSON.stringify(set)],
    );
  }
  // One row per agreement-hour in a statement (ON CONFLICT cannot touch a row twice): a batch's
  // hours are already one per key, since the fold closes each hour once per agreement.
  const hours = [...folded.hours]
    .sort((a, b) => (a.agreementId < b.agreementId ? -1 : a.agreementId > b.agreementId ? 1 : a.hour - b.hour))
    .map((h) => ({ a: h.agreementId, h: iso(h.hour), p: h.peakLocks, l: String(h.licenses), e: String(h.licensesAtEnd), d: String(h.denials) }));
  if (hours.length > 0) {
    await client.query(
      `INSERT INTO usage_history_hourly (agreement_id, hour, peak_locks, licenses, licenses_at_end, denials)
       SELECT r.a, r.h::timestamptz, r.p, r.l::bigint, r.e::bigint, r.d::bigint FROM jsonb_to_recordset($1::jsonb) AS r(a text, h text, p int, l text, e text, d text)
       ON CONFLICT (agreement_id, hour) DO UPDATE SET
         peak_locks = greatest(usage_history_hourly.peak_locks, excluded.peak_locks),
         licenses = greatest(usage_history_hourly.licenses, excluded.licenses),
         licenses_at_end = excluded.licenses_at_end,
         denials = usage_history_hourly.denials + excluded.denials`,
      [JSON.stringify(hours)],
    );
  }
}
