import { AgreementState, EpochMs, Holder, LedgerEvent, LeaseOutcome, LockPeriodBounds, LockSnapshot, locksOf } from '@license-ledger/lease-domain';
import type { ProjectedAgreement, ProjectedLock } from '@license-ledger/lease-projection';
import type { LogEntry, LogProblem } from './ledger-log';

const UNITS: ReadonlyArray<readonly [string, number]> = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]];

/** The largest unit that divides exactly: 300000 -> 5m, 90000 -> 90s, 1500 -> 1500ms. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of UNITS) if (ms !== 0 && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

export function formatTime(ms: EpochMs): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms);
}

export function formatBounds(bounds: LockPeriodBounds): string {
  return `${formatDuration(bounds.minMs)}/${formatDuration(bounds.defaultMs)}/${formatDuration(bounds.maxMs)}`;
}

/** Gateway keys are 44 characters of base64; the first 12 tell them apart in a listing. */
export function shortKey(key: string): string {
  return key.length > 16 ? `${key.slice(0, 12)}…` : key;
}

export function shortHash(configHash: string): string {
  return configHash.length > 16 ? `${configHash.slice(0, 12)}…` : configHash;
}

function formatHolder(holder: Holder): string {
  return `${holder.hostname}:${holder.processId} session ${holder.sessionId} key ${shortKey(holder.key)}`;
}

export function formatOutcome(what: string, requestId: string, outcome: LeaseOutcome): string {
  switch (outcome.kind) {
    case 'accepted':
      return `${what}: accepted (request ${requestId})`;
    case 'denied':
      return `${what}: DENIED (${outcome.reason}): ${outcome.message} (request ${requestId})`;
    case 'granted':
      return `${what}: granted lock ${shortHash(outcome.configHash)} until ${formatTime(outcome.expiresAt)}${outcome.overdraft ? ' (OVERDRAFT: beyond the licenses)' : ''} (request ${requestId})`;
    case 'released': {
      const after = outcome.freed ? ', license freed' : outcome.keptUntil === undefined ? '' : `, counted until ${formatTime(outcome.keptUntil)}`;
      return `${what}: released lock ${shortHash(outcome.configHash)}${after} (request ${requestId})`;
    }
    default: {
      const unknown: never = outcome;
      return `${what}: ${JSON.stringify(unknown)}`;
    }
  }
}

/** Left-aligned columns, two spaces apart. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, column) => Math.max(h.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

/** `list`: agreements from the projection, each followed by its live locks and their holders. */
export function formatAgreementList(agreements: readonly ProjectedAgreement[], nowMs: EpochMs): string[] {
  if (agreements.length === 0) return ['no agreements'];
  const rows = agreements.map((a) => {
    const live = a.locks.filter((l) => l.expiresAt > nowMs).length;
    return [a.id, a.name, a.status, String(a.licenses), `${live}/${a.licenses}`, String(a.keys.length), formatBounds(a.bounds), a.lingerMs === 0 ? '-' : formatDuration(a.lingerMs)];
  });
  const lines = table(['AGREEMENT', 'NAME', 'STATUS', 'LICENSES', 'LIVE', 'KEYS', 'MIN/DEFAULT/MAX', 'LINGER'], rows);
  for (const agreement of agreements) {
    const live = agreement.locks.filter((l) => l.expiresAt > nowMs);
    if (live.length === 0) continue;
    const over = live.length > agreement.licenses ? ` (OVER the ${agreement.licenses} license(s))` : '';
    lines.push('', `${agreement.id}: ${live.length} live lock(s)${over}`);
    for (const lock of live) {
      lines.push(`  ${lockLine(lock)} (granted ${formatTime(lock.grantedAt)})`);
      for (const holder of lock.holders) lines.push(`    held by ${formatHolder(holder)} since ${formatTime(holder.joinedAt)}`);
      if (lock.support) lines.push(`    ${supportLine(lock.support)}`);
    }
  }
  return lines;
}

/** `replay`: the folded state as of an instant, with the locks live then. */
export function formatState(agreements: readonly AgreementState[], asOfMs: EpochMs, note: string | undefined): string[] {
  const lines = [`state as of ${formatTime(asOfMs)}${note ? ` (${note})` : ''}`];
  if (agreements.length === 0) return [...lines, 'no agreements'];
  for (const state of agreements) {
    const live = locksOf(state).filter((l) => l.expiresAt > asOfMs);
    lines.push(
      '',
      `${state.agreementId} "${state.name}" ${state.status}, ${state.licenses} license(s), ${live.length} live lock(s), bounds ${formatBounds(state.bounds)}${state.lingerMs === 0 ? '' : `, linger ${formatDuration(state.lingerMs)}`}`,
    );
    for (const key of state.keys.keys()) lines.push(`  key ${key}`);
    for (const lock of live) {
      lines.push(`  ${lockLine(lock)}`);
      for (const holder of lock.holders) lines.push(`    held by ${formatHolder(holder)}`);
      if (lock.support) lines.push(`    ${supportLine(lock.support)}`);
    }
  }
  return lines;
}

/** One lock: held by gateways, lingering after its last release, or issued by support. */
function lockLine(lock: LockSnapshot | ProjectedLock): string {
  switch (lock.kind) {
    case 'held':
      return `lock ${lock.configHash} until ${formatTime(lock.expiresAt)}`;
    case 'lingering':
      return `lock ${lock.configHash} LINGERING until ${formatTime(lock.expiresAt)}${lock.releasedAt === undefined ? '' : ` (released ${formatTime(lock.releasedAt)})`}`;
    case 'support':
      return `lock ${lock.configHash} SUPPORT until ${formatTime(lock.expiresAt)}`;
    default: {
      const unknown: never = lock.kind;
      return `lock ${String(unknown)}`;
    }
  }
}

function supportLine(grant: NonNullable<LockSnapshot['support']>): string {
  return `support token until ${formatTime(grant.until)} for key ${shortKey(grant.key)}, issued by ${grant.issuedBy}: ${grant.reason}${grant.overdraft ? ' (OVERDRAFT)' : ''}`;
}

function eventDetails(event: LedgerEvent): string {
  switch (event.type) {
    case 'AgreementOpened':
    case 'AgreementChanged':
      return `"${event.data.name}" ${event.data.licenses} license(s), bounds ${formatBounds(event.data.bounds)}${event.data.lingerMs ? `, linger ${formatDuration(event.data.lingerMs)}` : ''}`;
    case 'AgreementClosed':
      return '';
    case 'KeyBindRequested':
    case 'KeyBound':
    case 'KeyRevoked':
      return `key ${event.data.key}`;
    case 'KeyReserved':
    case 'KeyReleased':
      return `key ${event.data.key} for agreement "${event.data.agreementId}"`;
    case 'KeyReservationRefused':
      return `key ${event.data.key} for agreement "${event.data.agreementId}": ${event.data.message}`;
    case 'LockGranted':
    case 'LockRenewed':
      return `lock ${shortHash(event.data.configHash)} until ${formatTime(event.data.expiresAt)} by ${formatHolder(event.data.holder)}`;
    case 'LockReleased': {
      const { keptUntil } = event.data;
      return `lock ${shortHash(event.data.configHash)} by ${formatHolder(event.data.holder)}${event.data.freed ? ', freed' : keptUntil === undefined ? '' : `, counted until ${formatTime(keptUntil)}`}`;
    }
    case 'SupportLockIssued': {
      const { configHash, key, until, issuedBy, reason, overdraft } = event.data;
      return `lock ${shortHash(configHash)} until ${formatTime(until)} for key ${shortKey(key)} by ${issuedBy}: ${reason}${overdraft ? ' (OVERDRAFT)' : ''}`;
    }
    case 'LockForceReleased': {
      const { configHash, holders, expiresAt, releasedBy, reason } = event.data;
      return `lock ${shortHash(configHash)} freed by ${releasedBy}: ${reason}; ${holders.length} holder(s) refused until ${formatTime(expiresAt)}`;
    }
    case 'LockExpired':
      return `lock ${shortHash(event.data.configHash)} (expired at ${formatTime(event.data.expiredAt)})`;
    case 'RequestDenied':
      return `${event.data.command}: ${event.data.reason}: ${event.data.message}`;
    default: {
      const unknown: never = event;
      return JSON.stringify(unknown);
    }
  }
}

export const HISTORY_HEADER = ['PARTITION', 'OFFSET', 'TIME', 'TYPE', 'REQUEST', 'DETAILS'] as const;

/** One row of an agreement's history; ownership markers show as a change of the partition's owner. */
export function historyRow(entry: LogEntry): string[] {
  const position = [String(entry.partition), String(entry.offset)];
  if ('malformed' in entry) return [...position, formatTime(entry.timestampMs), 'UNREADABLE', '-', entry.malformed];
  const { record } = entry;
  if (record.type === 'PartitionClaimed') {
    return [...position, formatTime(record.metadata.at), '(owner)', '-', `partition ${record.data.partition} claimed by ${record.data.owner}`];
  }
  if (record.type === 'LedgerCheckpoint') return [...position, formatTime(record.metadata.at), '(checkpoint)', '-', `signed by key ${record.data.signerKeyId}`];
  return [...position, formatTime(record.metadata.at), record.type, record.metadata.requestId, eventDetails(record)];
}

export function formatProblems(problems: readonly LogProblem[], limit: number): string[] {
  const shown = problems.slice(0, limit).map((p) => `  partition ${p.partition} offset ${p.offset}: ${p.message}`);
  return problems.length > limit ? [...shown, `  ... and ${problems.length - limit} more`] : shown;
}

/** `[#######-------]  52% 1234/2345 records` in `width` characters of bar. */
export function renderProgress(read: bigint, total: bigint, width = 30): string {
  const fraction = total === 0n ? 1 : Math.min(1, Number(read) / Number(total));
  const filled = Math.round(fraction * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}% ${read}/${total} offsets`;
}
