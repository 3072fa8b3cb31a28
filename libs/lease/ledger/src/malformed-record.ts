/** A record of a ledger topic that cannot be read: a broken log, or one written by something else. */
export class MalformedRecordError extends Error {
  constructor(what: string, detail: string) {
    super(`malformed ${what}: ${detail}`);
    this.name = 'MalformedRecordError';
  }
}
