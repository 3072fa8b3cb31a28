import { z } from 'zod';
import type { KeyCommand, LeaseCommand, LedgerCommand } from './commands';
import type { KeyEvent, LeaseEvent, LedgerEvent } from './events';

/*
 * JSON (de)serialization of events and commands. The parsers check structure and formats (types,
 * integer times, hash and key formats); business rules such as "licenses must not be negative"
 * are the decider's, so such commands still reach it and are denied with a recorded reason.
 * Events are read leniently (unknown fields dropped: a newer writer may add fields); commands are
 * read strictly (an unknown field is most likely a typo that would otherwise be silently ignored).
 */

export class LeaseParseError extends Error {
  override readonly name = 'LeaseParseError';
}

const CONFIG_HASH = /^[0-9a-f]{64}$/;
/** Ops notes (a reason, who did it) are for people and land in every reader of the log: kept short. */
export const MAX_NOTE_LENGTH = 500;
const GATEWAY_KEY = /^[A-Za-z0-9+/]{43}=$/;

export function isConfigHash(value: string): boolean {
  return CONFIG_HASH.test(value);
}

export function isGatewayKey(value: string): boolean {
  return GATEWAY_KEY.test(value);
}

const text = z.string().min(1, 'must not be empty');
const agreementId = text;
const epochMs = z.int().min(0);
const configHash = z.string().regex(CONFIG_HASH, 'must be a SHA-256 config hash: 64 lower-case hex digits');
const gatewayKey = z.string().regex(GATEWAY_KEY, 'must be a gateway public key: standard base64 of 32 bytes');
const holder = z.object({ key: gatewayKey, hostname: text, processId: z.int().min(0), sessionId: text });
const bounds = z.object({ minMs: z.int().positive(), maxMs: z.int().positive(), defaultMs: z.int().positive() });
const reason = z.enum(['no_license_agreement', 'no_available_licenses', 'invalid_command', 'lock_not_held', 'lock_released_by_operator']);
const lingerMs = z.int().min(0).optional();
const eventMetadata = z.object({ requestId: text, at: epochMs });

function eventOf<Type extends string, Data extends z.ZodRawShape>(type: Type, data: Data) {
  return z.object({ type: z.literal(type), data: z.object(data), metadata: eventMetadata });
}

const eventSchemas = {
  AgreementOpened: eventOf('AgreementOpened', { agreementId, name: text, licenses: z.int().min(0), bounds, lingerMs }),
  AgreementChanged: eventOf('AgreementChanged', { agreementId, name: text, licenses: z.int().min(0), bounds, lingerMs }),
  AgreementClosed: eventOf('AgreementClosed', { agreementId }),
  KeyBindRequested: eventOf('KeyBindRequested', { agreementId, key: gatewayKey }),
  KeyBound: eventOf('KeyBound', { agreementId, key: gatewayKey }),
  KeyRevoked: eventOf('KeyRevoked', { agreementId, key: gatewayKey }),
  LockGranted: eventOf('LockGranted', { agreementId, configHash, holder, expiresAt: epochMs }),
  LockRenewed: eventOf('LockRenewed', { agreementId, configHash, holder, expiresAt: epochMs }),
  LockReleased: eventOf('LockReleased', { agreementId, configHash, holder, freed: z.boolean(), keptUntil: epochMs.optional() }),
  SupportLockIssued: eventOf('SupportLockIssued', { agreementId, configHash, key: gatewayKey, until: epochMs, issuedBy: text, reason: text, overdraft: z.boolean() }),
  LockForceReleased: eventOf('LockForceReleased', { agreementId, configHash, holders: z.array(holder).readonly(), expiresAt: epochMs, releasedBy: text, reason: text }),
  LockExpired: eventOf('LockExpired', { agreementId, configHash, expiredAt: epochMs }),
  // Denials echo what the requester sent, which may be malformed: key and hash are kept as text.
  RequestDenied: eventOf('RequestDenied', {
    agreementId,
    reason,
    command: text,
    message: z.string(),
    key: z.string().optional(),
    configHash: z.string().optional(),
  }),
} satisfies { [Type in LeaseEvent['type']]: z.ZodType<Extract<LeaseEvent, { type: Type }>> };

const keyEventSchemas = {
  KeyReserved: eventOf('KeyReserved', { key: gatewayKey, agreementId }),
  KeyReservationRefused: eventOf('KeyReservationRefused', { key: gatewayKey, agreementId, heldBy: agreementId, message: z.string() }),
  KeyReleased: eventOf('KeyReleased', { key: gatewayKey, agreementId }),
} satisfies { [Type in KeyEvent['type']]: z.ZodType<Extract<KeyEvent, { type: Type }>> };

// requestedAt is optional: commands written before it existed still decode.
const commandMetadata = z.strictObject({ requestId: text, requestedAt: epochMs.optional() });
const partialBounds = z.strictObject({ minMs: z.number().optional(), maxMs: z.number().optional(), defaultMs: z.number().optional() });
const strictHolder = z.strictObject(holder.shape);

function commandOf<Type extends string, Data extends z.ZodRawShape>(type: Type, data: Data) {
  return z.strictObject({ type: z.literal(type), data: z.strictObject(data), metadata: commandMetadata });
}

const commandSchemas = {
  OpenAgreement: commandOf('OpenAgreement', { agreementId, name: z.string(), licenses: z.number(), bounds: partialBounds.optional(), lingerMs: z.number().optional() }),
  ChangeAgreement: commandOf('ChangeAgreement', {
    agreementId,
    name: z.string().optional(),
    licenses: z.number().optional(),
    bounds: partialBounds.optional(),
    lingerMs: z.number().optional(),
  }),
  CloseAgreement: commandOf('CloseAgreement', { agreementId }),
  BindKey: commandOf('BindKey', { agreementId, key: gatewayKey }),
  BindReservedKey: commandOf('BindReservedKey', { agreementId, key: gatewayKey }),
  RevokeKey: commandOf('RevokeKey', { agreementId, key: gatewayKey }),
  AcquireLock: commandOf('AcquireLock', { agreementId, configHash, holder: strictHolder, requestedPeriodMs: z.number().optional() }),
  ReleaseLock: commandOf('ReleaseLock', { agreementId, configHash, holder: strictHolder }),
  // Reason and issuer are checked by the decider (not empty), so a bad one is a recorded denial.
  IssueSupportLock: commandOf('IssueSupportLock', {
    agreementId,
    configHash,
    key: gatewayKey,
    until: z.number(),
    reason: z.string().max(MAX_NOTE_LENGTH),
    issuedBy: z.string().max(MAX_NOTE_LENGTH),
    overdraft: z.boolean(),
  }),
  ForceReleaseLock: commandOf('ForceReleaseLock', { agreementId, configHash, reason: z.string().max(MAX_NOTE_LENGTH), releasedBy: z.string().max(MAX_NOTE_LENGTH) }),
  ExpireLocks: commandOf('ExpireLocks', { agreementId }),
} satisfies { [Type in LeaseCommand['type']]: z.ZodType<Extract<LeaseCommand, { type: Type }>> };

const keyCommandSchemas = {
  ReserveKey: commandOf('ReserveKey', { key: gatewayKey, agreementId }),
  ReleaseKey: commandOf('ReleaseKey', { key: gatewayKey, agreementId }),
} satisfies { [Type in KeyCommand['type']]: z.ZodType<Extract<KeyCommand, { type: Type }>> };

const ledgerEventSchemas = { ...eventSchemas, ...keyEventSchemas };
const ledgerCommandSchemas = { ...commandSchemas, ...keyCommandSchemas };

export const LEASE_EVENT_TYPES = Object.keys(eventSchemas) as readonly LeaseEvent['type'][];
export const KEY_EVENT_TYPES = Object.keys(keyEventSchemas) as readonly KeyEvent['type'][];
export const LEASE_COMMAND_TYPES = Object.keys(commandSchemas) as readonly LeaseCommand['type'][];
export const KEY_COMMAND_TYPES = Object.keys(keyCommandSchemas) as readonly KeyCommand['type'][];

/** Validates a decoded JSON value (or JSON text) as a lease event; throws LeaseParseError if malformed. */
export function parseLeaseEvent(json: unknown): LeaseEvent {
  return parseWith('event', eventSchemas, json) as LeaseEvent;
}

/** Validates a decoded JSON value (or JSON text) as a lease command; throws LeaseParseError if malformed. */
export function parseLeaseCommand(json: unknown): LeaseCommand {
  return parseWith('command', commandSchemas, json) as LeaseCommand;
}

/** Any event of the events topic: an agreement's or a gateway key's. */
export function parseLedgerEvent(json: unknown): LedgerEvent {
  return parseWith('event', ledgerEventSchemas, json) as LedgerEvent;
}

/** Any command of the commands topic: to an agreement or to a gateway key. */
export function parseLedgerCommand(json: unknown): LedgerCommand {
  return parseWith('command', ledgerCommandSchemas, json) as LedgerCommand;
}

export function serializeLeaseEvent(event: LedgerEvent): string {
  return JSON.stringify(event);
}

export function serializeLeaseCommand(command: LedgerCommand): string {
  return JSON.stringify(command);
}

function parseWith(what: 'event' | 'command', schemas: Record<string, z.ZodType>, json: unknown): unknown {
  const value = typeof json === 'string' ? decodeJson(what, json) : json;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new LeaseParseError(`Malformed lease ${what}: expected an object with type, data and metadata, got ${describe(value)}`);
  }
  const type: unknown = (value as { type?: unknown }).type;
  // Looked up by own key only, so "toString" or "__proto__" are unknown types, not prototype hits.
  const schema = typeof type === 'string' && Object.prototype.hasOwnProperty.call(schemas, type) ? schemas[type] : undefined;
  if (!schema) {
    throw new LeaseParseError(`Malformed lease ${what}: unknown type ${describe(type)}; expected one of ${Object.keys(schemas).join(', ')}`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new LeaseParseError(`Malformed lease ${what} ${String(type)}:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

function decodeJson(what: string, json: string): unknown {
  try {
    return JSON.parse(json) as unknown;
  } catch (error) {
    throw new LeaseParseError(`Malformed lease ${what}: not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value) : typeof value;
}
