import type { Holder, LedgerEvent, LockPeriodBounds } from '@license-ledger/lease-domain';
import { BinaryReader, BinaryWriter } from './binary-fields';
import { TextCache } from './text-cache';

/*
 * The binary encoding of a ledger event (version 1; see docs/ledger-integrity.md). About a third
 * of the JSON's size and read without a JSON parse or a schema walk, which is most of a replay's
 * cost. Layout: the type's tag, the request id, the time, then the data fields in the order
 * EVENT_LAYOUTS lists them.
 *
 * THE WIRE FORMAT IS FIXED: tags and field order never change and are never reused. A new event type
 * gets a new tag; a changed event needs a new tag (or a new format version). The spec's golden
 * vectors fail if either moves.
 */

/** How one field is written. Optional kinds carry a presence byte (0 absent, 1 present). */
type RequiredKind = 'text' | 'uint' | 'bool' | 'hash' | 'key' | 'holder' | 'holders' | 'bounds';
type OptionalKind = 'text?' | 'uint?';
type FieldKind = RequiredKind | OptionalKind;

type EventType = LedgerEvent['type'];
type DataOf<Type extends EventType> = Extract<LedgerEvent, { type: Type }>['data'];
/** Every field of the event's data, each with a kind fit for its optionality (the compiler checks both). */
type FieldsOf<Data> = { readonly [Name in keyof Data]-?: undefined extends Data[Name] ? OptionalKind : RequiredKind };
type Layouts = { readonly [Type in EventType]: { readonly tag: number; readonly fields: FieldsOf<DataOf<Type>> } };

const EVENT_LAYOUTS = {
  AgreementOpened: { tag: 1, fields: { agreementId: 'text', name: 'text', licenses: 'uint', bounds: 'bounds', lingerMs: 'uint?' } },
  AgreementChanged: { tag: 2, fields: { agreementId: 'text', name: 'text', licenses: 'uint', bounds: 'bounds', lingerMs: 'uint?' } },
  AgreementClosed: { tag: 3, fields: { agreementId: 'text' } },
  KeyBindRequested: { tag: 4, fields: { agreementId: 'text', key: 'key' } },
  KeyBound: { tag: 5, fields: { agreementId: 'text', key: 'key' } },
  KeyRevoked: { tag: 6, fields: { agreementId: 'text', key: 'key' } },
  LockGranted: { tag: 7, fields: { agreementId: 'text', configHash: 'hash', holder: 'holder', expiresAt: 'uint' } },
  LockRenewed: { tag: 8, fields: { agreementId: 'text', configHash: 'hash', holder: 'holder', expiresAt: 'uint' } },
  LockReleased: { tag: 9, fields: { agreementId: 'text', configHash: 'hash', holder: 'holder', freed: 'bool', keptUntil: 'uint?' } },
  SupportLockIssued: {
    tag: 10,
    fields: { agreementId: 'text', configHash: 'hash', key: 'key', until: 'uint', issuedBy: 'text', reason: 'text', overdraft: 'bool' },
  },
  LockForceReleased: {
    tag: 11,
    fields: { agreementId: 'text', configHash: 'hash', holders: 'holders', expiresAt: 'uint', releasedBy: 'text', reason: 'text' },
  },
  LockExpired: { tag: 12, fields: { agreementId: 'text', configHash: 'hash', expiredAt: 'uint' } },
  // Denials echo what the requester sent, which may be malformed: key and hash stay text.
  RequestDenied: { tag: 13, fields: { agreementId: 'text', reason: 'text', command: 'text', message: 'text', key: 'text?', configHash: 'text?' } },
  KeyReserved: { tag: 14, fields: { key: 'key', agreementId: 'text' } },
  KeyReservationRefused: { tag: 15, fields: { key: 'key', agreementId: 'text', heldBy: 'text', message: 'text' } },
  KeyReleased: { tag: 16, fields: { key: 'key', agreementId: 'text' } },
} as const satisfies Layouts;

interface Layout {
  readonly type: EventType;
  readonly tag: number;
  readonly fields: ReadonlyArray<readonly [string, FieldKind]>;
}

const LAYOUT_BY_TYPE = new Map<string, Layout>();
for (const [type, { tag, fields }] of Object.entries(EVENT_LAYOUTS)) {
  LAYOUT_BY_TYPE.set(type, { type: type as EventType, tag, fields: Object.entries(fields) as Array<[string, FieldKind]> });
}

/** Thrown inside the encoder when a value would not read back identically (then JSON is written). */
class NotExact extends Error {}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const HEX_HASH = /^[0-9a-f]{64}$/;

function writeText(out: BinaryWriter, value: unknown): void {
  if (typeof value !== 'string' || LONE_SURROGATE.test(value)) throw new NotExact();
  out.text(value);
}

function writeUint(out: BinaryWriter, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new NotExact();
  out.uint(value);
}

function writeKey(out: BinaryWriter, value: unknown): void {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'base64') : undefined;
  // Only a canonical key reads back as the same text.
  if (bytes?.length !== 32 || bytes.toString('base64') !== value) throw new NotExact();
  out.bytes(bytes);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function writeHolder(out: BinaryWriter, holder: unknown): void {
  if (!isObject(holder)) throw new NotExact();
  writeKey(out, holder.key);
  writeText(out, holder.hostname);
  writeUint(out, holder.processId);
  writeText(out, holder.sessionId);
}

function writeField(out: BinaryWriter, kind: FieldKind, value: unknown): void {
  switch (kind) {
    case 'text':
      return writeText(out, value);
    case 'uint':
      return writeUint(out, value);
    case 'bool':
      if (typeof value !== 'boolean') throw new NotExact();
      return out.byte(value ? 1 : 0);
    case 'hash':
      if (typeof value !== 'string' || !HEX_HASH.test(value)) throw new NotExact();
      return out.bytes(Buffer.from(value, 'hex'));
    case 'key':
      return writeKey(out, value);
    case 'holder':
      return writeHolder(out, value);
    case 'holders': {
      if (!Array.isArray(value)) throw new NotExact();
      out.uint(value.length);
      for (const holder of value) writeHolder(out, holder);
      return;
    }
    case 'bounds': {
      if (!isObject(value)) throw new NotExact();
      const bounds = value as Partial<LockPeriodBounds>;
      writeUint(out, bounds.minMs);
      writeUint(out, bounds.maxMs);
      return writeUint(out, bounds.defaultMs);
    }
    case 'text?':
    case 'uint?':
      out.byte(value === undefined ? 0 : 1);
      if (value !== undefined) writeField(out, kind === 'text?' ? 'text' : 'uint', value);
      return;
    default:
      return unexpected(kind);
  }
}

/**
 * The event's binary encoding, or undefined when some value would not read back identically (a
 * non-canonical key, a lone surrogate): such an event is written as JSON.
 */
export function encodeEventBinary(event: LedgerEvent, out = new BinaryWriter()): Buffer | undefined {
  const layout = LAYOUT_BY_TYPE.get(event.type);
  if (!layout) return undefined;
  const data = event.data as unknown as Record<string, unknown>;
  try {
    out.byte(layout.tag);
    writeText(out, event.metadata.requestId);
    writeUint(out, event.metadata.at);
    for (const [name, kind] of layout.fields) writeField(out, kind, data[name]);
  } catch (error) {
    if (error instanceof NotExact) return undefined;
    throw error;
  }
  return out.finish();
}

/*
 * Decoding shares the strings that repeat from one event to the next (text-cache.ts): agreement
 * ids and other short texts, gateway keys, hostnames; one cache each, so none pushes the others out.
 * Not session ids and config hashes: about one per lock, too many to find again in a cache.
 */
const TEXTS = new TextCache('utf8');
const HOSTNAMES = new TextCache('utf8');
const KEYS = new TextCache('base64');

function readHash(input: BinaryReader): string {
  return input.bytesAs(32, 'hex');
}

function readHolder(input: BinaryReader): Holder {
  return { key: input.cachedBytes(32, KEYS), hostname: input.cachedText(HOSTNAMES), processId: input.uint(), sessionId: input.text() };
}

function readHolders(input: BinaryReader): Holder[] {
  const count = input.uint();
  const holders: Holder[] = [];
  for (let i = 0; i < count; i++) holders.push(readHolder(input));
  return holders;
}

function readBool(input: BinaryReader): boolean {
  const byte = input.byte();
  if (byte > 1) throw input.malformed(`boolean byte ${byte}`);
  return byte === 1;
}

function readOptional(input: BinaryReader, read: (input: BinaryReader) => unknown): unknown {
  const present = input.byte();
  if (present > 1) throw input.malformed(`presence byte ${present}`);
  return present === 1 ? read(input) : undefined;
}

type FieldReader = (input: BinaryReader) => unknown;

const readText: FieldReader = (input) => input.cachedText(TEXTS);
const readUint: FieldReader = (input) => input.uint();

const FIELD_READERS: { readonly [Kind in FieldKind]: FieldReader } = {
  text: readText,
  uint: readUint,
  bool: readBool,
  hash: readHash,
  key: (input) => input.cachedBytes(32, KEYS),
  holder: readHolder,
  holders: readHolders,
  bounds: (input) => ({ minMs: input.uint(), maxMs: input.uint(), defaultMs: input.uint() }),
  'text?': (input) => readOptional(input, readText),
  'uint?': (input) => readOptional(input, readUint),
};

type DataReader = (input: BinaryReader) => Record<string, unknown>;

/**
 * The reader of one layout's data, compiled once from EVENT_LAYOUTS (its names are ours, never
 * input): the data object is built as one literal, its fields in layout order, an absent optional
 * left out. A generic loop storing fields by a computed name costs a replay more than decoding them.
 */
function compileDataReader(fields: Layout['fields']): DataReader {
  const firstOptional = fields.findIndex(([, kind]) => kind.endsWith('?'));
  const literalFields = firstOptional < 0 ? fields.length : firstOptional;
  const lines = fields.map((_, n) => `const v${n} = readers[${n}](input);`);
  const literal = fields.slice(0, literalFields).map(([name], n) => `${JSON.stringify(name)}: v${n}`);
  lines.push(`const data = { ${literal.join(', ')} };`);
  fields.slice(literalFields).forEach(([name, kind], i) => {
    const n = literalFields + i;
    const store = `data[${JSON.stringify(name)}] = v${n};`;
    lines.push(kind.endsWith('?') ? `if (v${n} !== undefined) ${store}` : store);
  });
  lines.push('return data;');
  const readers = fields.map(([, kind]) => FIELD_READERS[kind]);
  return new Function('readers', `return function readData(input) {\n${lines.join('\n')}\n};`)(readers) as DataReader;
}

/** Per tag, the event type and its data's reader. */
const DECODER_BY_TAG: Array<{ readonly type: EventType; readonly readData: DataReader } | undefined> = [];
for (const { type, tag, fields } of LAYOUT_BY_TYPE.values()) DECODER_BY_TAG[tag] = { type, readData: compileDataReader(fields) };

/** Reads an event from `bytes` starting at `offset` (to the end); throws MalformedRecordError. */
export function decodeEventBinary(bytes: Buffer, offset: number): LedgerEvent {
  const input = new BinaryReader(bytes, offset, 'ledger record');
  const tag = input.byte();
  const decoder = DECODER_BY_TAG[tag];
  if (!decoder) throw input.malformed(`unknown event tag ${tag}`);
  const requestId = input.text();
  const at = input.uint();
  const data = decoder.readData(input);
  input.end();
  return { type: decoder.type, data, metadata: { requestId, at } } as unknown as LedgerEvent;
}

function unexpected(value: never): never {
  throw new Error(`unexpected field kind ${String(value)}`);
}
