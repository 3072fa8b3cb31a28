import type { EpochMs, LedgerEvent } from '@license-ledger/lease-domain';
import type { PartitionLedger } from './partition-ledger';
import type { CommandEnvelope, ReplyEnvelope } from './records';

/** What the owner of a partition writes for one command, in one transaction with everything else. */
export interface EnvelopeDecision {
  readonly events: readonly LedgerEvent[];
  /** Answers, each to the instance that waits for it. */
  readonly replies: readonly { readonly to: string; readonly reply: ReplyEnvelope }[];
  /** Commands for other streams (a key's, an agreement's): to the commands topic, keyed by their stream. */
  readonly followUps: readonly CommandEnvelope[];
  /** Accepted without an event: nothing in the log remembers it, so it must not be consumed again. */
  readonly unrecorded: boolean;
}

/**
 * Decides one well-formed, well-routed command. A decision either answers its request or passes the
 * answer on with the follow-up that will (binding a key takes steps on two streams); the answer goes
 * out under the request id the asker waits for, whichever step gives it.
 */
export function decideEnvelope(ledger: PartitionLedger, envelope: CommandEnvelope, now: EpochMs): EnvelopeDecision {
  const { command, replyTo } = envelope;
  const decision = ledger.decideAndApply(command, now);
  const answers = envelope.answers ?? command.metadata.requestId;
  const passedOn = decision.followUps.some((followUp) => followUp.carriesAnswer);
  const followUps = decision.followUps.map(({ command: next, carriesAnswer }): CommandEnvelope =>
    carriesAnswer && replyTo !== null ? { command: next, replyTo, answers } : { command: next, replyTo: null },
  );
  const replies =
    passedOn || replyTo === null ? [] : [{ to: replyTo, reply: { requestId: answers, agreementId: command.data.agreementId, outcome: decision.outcome } }];
  return { events: decision.events, replies, followUps, unrecorded: decision.events.length === 0 && !decision.duplicate };
}
