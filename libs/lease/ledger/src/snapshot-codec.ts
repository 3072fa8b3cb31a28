import {
  AgreementState,
  DenialReason,
  KeyReservationState,
  LeaseOutcome,
  LedgerEvent,
  parseLedgerCommand,
  parseLedgerEvent,
} from '@license-ledger/lease-domain';
import type { LastDecision, RememberedOutcome } from './decision-memory';
import type { PartitionLedgerState } from './partition-ledger';
import { readAgreement, readConfigHash, writeAgreement, writeConfigHash } from './snapshot-agreements';
import { optional, SnapshotReader, SnapshotWriter, unexpected } from './snapshot-binary';

/**
 * The binary body of a partition snapshot: the whole PartitionLedgerState, versioned. A lock costs
 * about 60 bytes plus its session id (strings shared between locks are stored once), so 100,000
 * live locks take a few MB and encode or decode in tens of milliseconds. The rare parts (the last
 * decision's events, forwarded commands) are JSON read back through the domain's parsers.
 *
 * Layout v1: "LLPS" 0x01, where the string table starts (6 bytes), then partition, next offset,
 * latest time, agreements, key reservations, remembered outcomes, their forgetting order, the last
 * decision; then the table. Strings that repeat (keys, hostnames) go through the table; those that
 * hardly do (session and request ids) are stored in place.
 */
export const SNAPSHOT_BODY_VERSION = 1;
const MAGIC = Buffer.from([0x4c, 0x4c, 0x50, 0x53, SNAPSHOT_BODY_VERSION]);

const OutcomeTag = { Granted: 0, Released: 1, Denied: 2, Accepted: 3 } as const;

export function encodeSnapshotBody(state: PartitionLedgerState): Buffer {
  const w = new SnapshotWriter(MAGIC);
  w.varuint(state.partition);
  w.str(state.nextOffset.toString());
  w.f64(state.latestAt);
  w.varuint(state.agreements.size);
  for (const agreement of state.agreements.values()) writeAgreement(w, agreement);
  w.varuint(state.keys.size);
  for (const reservation of state.keys.values()) {
    w.str(reservation.key);
    optional(w, reservation.heldBy, (id) => w.str(id));
    w.f64(reservation.lastEventAt);
  }
  w.varuint(state.outcomes.size);
  for (const [requestId, remembered] of state.outcomes) {
    w.text(requestId);
    w.f64(remembered.at);
    writeOutcome(w, remembered.outcome);
    optional(w, remembered.forward, (command) => w.str(JSON.stringify(command)));
  }
  w.varuint(state.decidedOrder.length);
  for (const requestId of state.decidedOrder) w.text(requestId);
  optional(w, state.lastDecision, (last) => {
    w.str(last.requestId);
    w.str(JSON.stringify(last.events));
    optional(w, last.forward, (command) => w.str(JSON.stringify(command)));
  });
  // The events chain at nextOffset (chain-position.ts): a claim links its first events after it.
  w.str(state.chain.head.toString('hex'));
  w.varuint(state.chain.sinceCheckpoint);
  optional(w, state.chain.lastCheckpointAt, (at) => w.f64(at));
  return w.finish();
}

/** Throws (RangeError, or the domain's parse errors) on anything that is not a v1 body read to its end. */
export function decodeSnapshotBody(body: Buffer): PartitionLedgerState {
  const r = new SnapshotReader(body, MAGIC);
  const partition = r.varuint();
  const nextOffset = BigInt(r.str());
  const latestAt = r.f64();
  const agreements = new Map<string, AgreementState>();
  for (let n = r.varuint(); n > 0; n--) {
    const agreement = readAgreement(r);
    agreements.set(agreement.agreementId, agreement);
  }
  const keys = new Map<string, KeyReservationState>();
  for (let n = r.varuint(); n > 0; n--) {
    const key = r.str();
    const heldBy = r.bool() ? r.str() : undefined;
    keys.set(key, { key, heldBy, lastEventAt: r.f64() });
  }
  const outcomes = new Map<string, RememberedOutcome>();
  for (let n = r.varuint(); n > 0; n--) {
    const requestId = r.text();
    const at = r.f64();
    const outcome = readOutcome(r);
    outcomes.set(requestId, { at, outcome, forward: r.bool() ? parseLedgerCommand(JSON.parse(r.str())) : undefined });
  }
  const decidedOrder: string[] = [];
  for (let n = r.varuint(); n > 0; n--) decidedOrder.push(r.text());
  let lastDecision: LastDecision | undefined;
  if (r.bool()) {
    const requestId = r.str();
    const events = readEvents(r.str());
    lastDecision = { requestId, events, forward: r.bool() ? parseLedgerCommand(JSON.parse(r.str())) : undefined };
  }
  const chain = { head: Buffer.from(r.str(), 'hex'), sinceCheckpoint: r.varuint(), lastCheckpointAt: r.bool() ? r.f64() : undefined };
  if (chain.head.length !== 32) throw new RangeError('snapshot: the chain head is not 32 bytes');
  r.end();
  return { partition, nextOffset, latestAt, agreements, keys, outcomes, decidedOrder, lastDecision, chain };
}


function readEvents(json: string): LedgerEvent[] {
  const parsed: unknown = JSON.parse(json);
  if (!Array.isArray(parsed)) throw new RangeError('the last decision\'s events are not a list');
  return parsed.map((event: unknown) => parseLedgerEvent(event));
}

function writeOutcome(w: SnapshotWriter, outcome: LeaseOutcome): void {
  switch (outcome.kind) {
    case 'granted':
      w.u8(OutcomeTag.Granted);
      writeConfigHash(w, outcome.configHash);
      w.f64(outcome.expiresAt);
      w.bool(outcome.renewed);
      // Absent and false are different answers to a retry: keep which it was.
      w.u8(outcome.overdraft === undefined ? 0 : outcome.overdraft ? 2 : 1);
      return;
    case 'released':
      w.u8(OutcomeTag.Released);
      writeConfigHash(w, outcome.configHash);
      w.bool(outcome.freed);
      optional(w, outcome.keptUntil, (until) => w.f64(until));
      return;
    case 'denied':
      w.u8(OutcomeTag.Denied);
      w.str(outcome.reason);
      w.str(outcome.message);
      return;
    case 'accepted':
      w.u8(OutcomeTag.Accepted);
      return;
    default:
      return unexpected(outcome);
  }
}

function readOutcome(r: SnapshotReader): LeaseOutcome {
  const tag = r.u8();
  switch (tag) {
    case OutcomeTag.Granted: {
      const configHash = readConfigHash(r);
      const expiresAt = r.f64();
      const renewed = r.bool();
      const overdraft = r.u8();
      if (overdraft > 2) throw new RangeError('bad overdraft flag');
      return { kind: 'granted', configHash, expiresAt, renewed, ...(overdraft === 0 ? {} : { overdraft: overdraft === 2 }) };
    }
    case OutcomeTag.Released: {
      const configHash = readConfigHash(r);
      const freed = r.bool();
      const keptUntil = r.bool() ? r.f64() : undefined;
      return { kind: 'released', configHash, freed, ...(keptUntil === undefined ? {} : { keptUntil }) };
    }
    case OutcomeTag.Denied:
      return { kind: 'denied', reason: readDenialReason(r.str()), message: r.str() };
    case OutcomeTag.Accepted:
      return { kind: 'accepted' };
    default:
      throw new RangeError(`unknown outcome tag ${tag}`);
  }
}

const DENIAL_REASONS: readonly DenialReason[] = ['no_license_agreement', 'no_available_licenses', 'invalid_command', 'lock_not_held', 'lock_released_by_operator'];

function readDenialReason(text: string): DenialReason {
  const reason = DENIAL_REASONS.find((known) => known === text);
  if (reason === undefined) throw new RangeError(`unknown denial reason ${text}`);
  return reason;
}
