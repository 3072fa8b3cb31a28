import { parseArgs, parseDuration, parseInstant, UsageError } from './args';

describe('parseArgs', () => {
  it('parses agreement open with bounds as durations', () => {
    expect(parseArgs(['agreement', 'open', '--id', 'acme', '--name', 'Acme Ltd', '--licenses', '3', '--min', '5m', '--max=7d', '--default', '7200000'])).toEqual({
      kind: 'agreement-open',
      id: 'acme',
      name: 'Acme Ltd',
      licenses: 3,
      bounds: { minMs: 300_000, maxMs: 604_800_000, defaultMs: 7_200_000 },
      requestId: undefined,
      timeoutMs: 30_000,
    });
  });

  it('parses change, close, key commands and the common options', () => {
    expect(parseArgs(['agreement', 'change', '--id', 'acme', '--licenses', '5'])).toMatchObject({ kind: 'agreement-change', id: 'acme', licenses: 5, bounds: {} });
    expect(parseArgs(['agreement', 'close', '--id', 'acme', '--request-id', 'r-1', '--timeout', '10s'])).toEqual({
      kind: 'agreement-close',
      id: 'acme',
      requestId: 'r-1',
      timeoutMs: 10_000,
    });
    expect(parseArgs(['key', 'bind', '--agreement', 'acme', '--key', 'gw.pub'])).toMatchObject({ kind: 'key-bind', agreementId: 'acme', key: 'gw.pub' });
    expect(parseArgs(['key', 'revoke', '--agreement', 'acme', '--key', 'gw.pub'])).toMatchObject({ kind: 'key-revoke' });
  });

  it('parses the reading commands', () => {
    expect(parseArgs(['list'])).toEqual({ kind: 'list' });
    expect(parseArgs(['replay'])).toEqual({ kind: 'replay' });
    expect(parseArgs(['replay', '--from', '2026-03-01T00:00:00Z', '--as-of', '2026-03-02T12:00:00+01:00', '--agreement', 'acme'])).toEqual({
      kind: 'replay',
      fromMs: Date.UTC(2026, 2, 1),
      asOfMs: Date.UTC(2026, 2, 2, 11),
      agreementId: 'acme',
    });
    expect(parseArgs(['verify'])).toEqual({ kind: 'verify', checkProjection: true });
    expect(parseArgs(['verify', '--skip-projection'])).toEqual({ kind: 'verify', checkProjection: false });
    expect(parseArgs(['verify', '--ledger-key', 'keys/ledger-sign.pub'])).toEqual({ kind: 'verify', checkProjection: true, ledgerKeyFile: 'keys/ledger-sign.pub' });
    expect(parseArgs([])).toEqual({ kind: 'help' });
  });

  it.each([
    [['frobnicate'], /unknown command "frobnicate"/],
    [['agreement', 'open', '--id', 'a', '--name', 'A'], /--licenses is required/],
    [['agreement', 'open', '--id', 'a', '--name', 'A', '--licenses', '-1'], /--licenses expects a non-negative integer/],
    [['agreement', 'open', '--id', 'a', '--name', 'A', '--licenses', '1', '--min', '5 minutes'], /--min expects a positive duration/],
    [['agreement', 'change', '--id', 'a'], /needs at least one of/],
    [['agreement', 'close', '--id'], /--id needs a value/],
    [['agreement', 'close', '--id', 'a', '--id', 'b'], /--id is given twice/],
    [['key', 'bind', '--agreement', 'a', '--colour', 'red'], /unknown option --colour/],
    [['replay', '--as-of', '2026-03-01T00:00:00'], /ISO time with a zone/],
    [['replay', '--from', '2026-03-02Z', '--as-of', '2026-03-01T00:00:00Z'], /ISO time with a zone|before --from/],
    [['list', 'extra'], /unexpected argument "extra"/],
    [['list', '-v'], /unexpected argument "-v"/],
    [['list', '--', '--x'], /unexpected argument "--"/],
    [['agreement', 'open', '--id', '--name', 'A', '--licenses', '1'], /--id needs a value/],
    [['verify', '--skip-projection=yes'], /--skip-projection takes no value/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });
});

describe('durations and instants', () => {
  it('reads plain milliseconds and unit suffixes', () => {
    expect(parseDuration('x', '1500')).toBe(1_500);
    expect(parseDuration('x', '1500ms')).toBe(1_500);
    expect(parseDuration('x', '90s')).toBe(90_000);
    expect(parseDuration('x', '2h')).toBe(7_200_000);
    expect(() => parseDuration('x', '0')).toThrow(/positive duration/);
  });

  it('accepts dates and zoned times, rejects zone-less times', () => {
    expect(parseInstant('x', '2026-03-01')).toBe(Date.UTC(2026, 2, 1));
    expect(parseInstant('x', '2026-03-01T10:00:00.250Z')).toBe(Date.UTC(2026, 2, 1, 10, 0, 0, 250));
    expect(() => parseInstant('x', 'yesterday')).toThrow(UsageError);
  });
});
