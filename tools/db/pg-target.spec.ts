import { formatDatabaseUrl, parseDatabaseUrl, redactUrl } from './pg-target';
import { migrationTimestamp, normalizeMigrationName } from './migrate';

describe('parseDatabaseUrl / formatDatabaseUrl', () => {
  it('reads host, port, user, password and database as separate fields', () => {
    expect(parseDatabaseUrl('postgresql://app:p%40ss@db.internal:6543/ledger')).toEqual({
      host: 'db.internal',
      port: 6543,
      user: 'app',
      password: 'p@ss',
      database: 'ledger',
      ssl: undefined,
    });
  });

  it('applies defaults and understands sslmode and unix-socket hosts', () => {
    const target = parseDatabaseUrl('postgres://localhost/x?sslmode=require&host=/var/run/postgresql');
    expect(target).toMatchObject({ host: '/var/run/postgresql', port: 5432, user: 'postgres', database: 'x' });
    expect(target.ssl).toEqual({ rejectUnauthorized: false });
  });

  it('rejects what the tooling cannot honour', () => {
    expect(() => parseDatabaseUrl('mysql://h/db')).toThrow(/postgresql:\/\//);
    expect(() => parseDatabaseUrl('postgresql://h:5432/')).toThrow(/no database name/);
    expect(() => parseDatabaseUrl('postgresql://h/db?schema=tenant')).toThrow(/schema=tenant/);
  });

  it('round-trips through formatDatabaseUrl', () => {
    const url = 'postgresql://app:s%3Acret@127.0.0.1:5433/ledger_test';
    expect(parseDatabaseUrl(formatDatabaseUrl(parseDatabaseUrl(url)))).toEqual(parseDatabaseUrl(url));
  });

  it('redacts passwords', () => {
    expect(redactUrl('postgresql://app:secret@h/db')).toBe('postgresql://app:***@h/db');
  });
});

describe('migration names', () => {
  it('normalises to lower_snake_case', () => {
    expect(normalizeMigrationName(' Add License-Events! ')).toBe('add_license_events');
    expect(() => normalizeMigrationName('!!!')).toThrow();
  });

  it('uses the UTC timestamp, kept after the newest existing migration', () => {
    const now = new Date('2026-01-02T03:04:05.678Z');
    expect(migrationTimestamp([], now)).toBe('20260102030405');
    expect(migrationTimestamp(['20250101000000_init'], now)).toBe('20260102030405');
    expect(migrationTimestamp(['20270101235959_future'], now)).toBe('20270102000000');
  });
});
