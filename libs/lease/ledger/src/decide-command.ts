import { EpochMs, ExpireLocks, LeaseCommand, LedgerEvent, nextExpiry, streamOf } from '@license-ledger/lease-domain';
import { errorReason, type PartitionedMessage, type ReceivedMessage } from '@license-ledger/platform-kafka';
import { decideEnvelope } from './decide-envelope';
import type { PartitionLedger } from './partition-ledger';
import { CommandEnvelope, decodeCommandEnvelope, encodeJson } from './records';

/** What the owner of a partition does with one consumed command. */
export type CommandDecision =
  | {
      readonly kind: 'decided';
      readonly events: readonly LedgerEvent[];
      readonly replies: readonly PartitionedMessage[];
      /** Follow-up commands for other streams (binding a key), to the commands topic. */
      readonly commands: readonly PartitionedMessage[];
      /** Accepted without an event (e.g. binding a key already bound): nothing in the log remembers it. */
      readonly unrecorded: boolean;
    }
  /**
   * Consumed after its deadline: the asker has given up and answered "not decided", so deciding now
   * would hold a license for nobody. Nothing is written, and nothing remembers it either.
   */
  | { readonly kind: 'expired'; readonly requestId: string; readonly lateMs: number }
  /** Cannot be decided (malformed, misrouted, or the decider threw): copied to the dead-letter topic and skipped. */
  | { readonly kind: 'deadLetter'; readonly reason: string };

/**
 * Decodes and decides one command of the partition `ledger` holds, applying its events to the ledger
 * at once so the next command sees them. The caller writes what comes out, or discards the ledger.
 */
export function decideCommand(ledger: PartitionLedger, message: ReceivedMessage, now: EpochMs): CommandDecision {
  let envelope: CommandEnvelope;
  try {
    envelope = decodeCommandEnvelope(message.value);
  } catch (error) {
    return { kind: 'deadLetter', reason: `malformed command: ${errorReason(error)}` };
  }
  const { command, deadlineMs } = envelope;
  if (deadlineMs !== undefined && now > deadlineMs) return { kind: 'expired', requestId: command.metadata.requestId, lateMs: now - deadlineMs };
  if (message.key !== streamOf(command)) return { kind: 'deadLetter', reason: `misrouted command: key is not the id of its stream ${streamOf(command)}` };
  let decided;
  try {
    decided = decideEnvelope(ledger, envelope, now);
  } catch (error) {
    // The decider is pure and throws before applying anything: a bug must not stop the partition.
    return { kind: 'deadLetter', reason: `cannot decide command: ${errorReason(error)}` };
  }
  return {
    kind: 'decided',
    events: decided.events,
    replies: decided.replies.map(({ to, reply }) => ({ key: to, value: encodeJson(reply) })),
    // Keyed by stream, not given a partition: the same partitioner as the clients' places them.
    commands: decided.followUps.map((followUp) => ({ key: streamOf(followUp.command), value: encodeJson(followUp) })),
    unrecorded: decided.unrecorded,
  };
}

/**
 * Expires the locks of every agreement of the partition that has one due, applying the events to the
 * ledger; undefined when none was due.
 */
export function decideDueExpiries(ledger: PartitionLedger, now: EpochMs): LedgerEvent[] | undefined {
  let events: LedgerEvent[] | undefined;
  for (const state of ledger.agreements.values()) {
    const at = nextExpiry(state);
    if (at === undefined || at > now) continue;
    const command: ExpireLocks = {
      type: 'ExpireLocks',
      data: { agreementId: state.agreementId },
      metadata: { requestId: `expire:${state.agreementId}:${now}` },
    };
    events ??= [];
    events.push(...ledger.decideAndApply(command satisfies LeaseCommand, now).events);
  }
  return events;
}
