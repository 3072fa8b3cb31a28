import type { LeaseCommand } from './commands';
import type { EventMetadata, RequestDenied } from './events';
import type { DenialReason } from './values';

/** An ops command that does not fit the agreement's state or breaks a rule of its own. */
export function invalid(command: LeaseCommand, metadata: EventMetadata, message: string, about: { key?: string; configHash?: string } = {}): RequestDenied {
  return { type: 'RequestDenied', data: { agreementId: command.data.agreementId, reason: 'invalid_command', command: command.type, message, ...about }, metadata };
}

/** A refusal about one lock: names the key and config hash it was asked for. */
export function denied(command: LeaseCommand, metadata: EventMetadata, reason: DenialReason, message: string, key: string | undefined, configHash: string): RequestDenied {
  return {
    type: 'RequestDenied',
    data: { agreementId: command.data.agreementId, reason, command: command.type, message, ...(key === undefined ? {} : { key }), configHash },
    metadata,
  };
}

export function unreachable(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}
