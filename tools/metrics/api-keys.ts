/**
 * Analysts' API keys of the metrics service (table metrics_api_key, the service's own store): the
 * server keeps only the key id and the RSA public key; the analyst keeps the private key.
 *
 *   DATABASE_URL=… npx tsx tools/metrics/api-keys.ts create --owner alice --public-key alice.pub.pem [--key-id ID]
 *   DATABASE_URL=… npx tsx tools/metrics/api-keys.ts list [--owner alice] [--all]
 *   DATABASE_URL=… npx tsx tools/metrics/api-keys.ts revoke --key-id ID
 *
 * An analyst may hold several live keys: rotate by creating the new key, switching clients to it,
 * then revoking the old one (effective on the next request; nothing is cached). The analyst makes
 * the key pair with `openssl genrsa -out alice.key 2048 && openssl rsa -in alice.key -pubout -out alice.pub.pem`.
 * Exit codes: 0 done, 1 refused (no such key, bad public key), 2 usage or configuration error.
 */
import { createPublicKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Client } from 'pg';

const usage = `usage: api-keys.ts create --owner <name> --public-key <pem file> [--key-id <id>]
       api-keys.ts list [--owner <name>] [--all]
       api-keys.ts revoke --key-id <id>`;

function fail(code: number, message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: rest,
      options: { owner: { type: 'string' }, 'public-key': { type: 'string' }, 'key-id': { type: 'string' }, all: { type: 'boolean' } },
    }).values;
  } catch (error) {
    fail(2, `${(error as Error).message}\n${usage}`);
  }
  const databaseUrl = process.env['DATABASE_URL'];
  if (!databaseUrl) fail(2, 'DATABASE_URL is not set');
  const db = new Client({ connectionString: databaseUrl });
  // A connection lost between queries is reported here instead of killing the process unexplained.
  db.on('error', (error) => process.stderr.write(`database connection failed: ${error.message}\n`));
  const run = async (work: () => Promise<void>) => {
    await db.connect();
    try {
      await work();
    } finally {
      await db.end();
    }
  };
  switch (command) {
    case 'create': {
      const owner = values['owner'];
      const file = values['public-key'];
      if (typeof owner !== 'string' || owner === '' || typeof file !== 'string') fail(2, usage);
      let pem: string;
      try {
        const key = createPublicKey(readFileSync(file, 'utf8'));
        const bits = key.asymmetricKeyDetails?.modulusLength;
        if (key.asymmetricKeyType !== 'rsa' || bits !== 2048) fail(1, `expected an RSA-2048 public key, got ${key.asymmetricKeyType ?? '?'} ${bits ?? '?'} bits`);
        pem = key.export({ type: 'spki', format: 'pem' }).toString();
      } catch (error) {
        fail(1, `cannot read the public key: ${(error as Error).message}`);
      }
      const keyId = typeof values['key-id'] === 'string' ? values['key-id'] : `${owner.replace(/[^A-Za-z0-9_-]/g, '')}-${randomBytes(6).toString('hex')}`;
      await run(async () => {
        const result = await db.query(`INSERT INTO metrics_api_key (key_id, owner, public_key_pem) VALUES ($1, $2, $3) ON CONFLICT (key_id) DO NOTHING`, [keyId, owner, pem]);
        if (result.rowCount !== 1) fail(1, `key id ${keyId} exists already`);
      });
      process.stdout.write(`${keyId}\n`);
      return;
    }
    case 'list':
      await run(async () => {
        const owner = typeof values['owner'] === 'string' ? values['owner'] : null;
        const rows = await db.query<{ key_id: string; owner: string; created_at: Date; revoked_at: Date | null }>(
          `SELECT key_id, owner, created_at, revoked_at FROM metrics_api_key WHERE ($1::text IS NULL OR owner = $1) AND ($2 OR revoked_at IS NULL) ORDER BY owner, created_at`,
          [owner, values['all'] === true],
        );
        process.stdout.write('key_id\towner\tcreated_at\trevoked_at\n');
        for (const r of rows.rows) process.stdout.write(`${r.key_id}\t${r.owner}\t${r.created_at.toISOString()}\t${r.revoked_at?.toISOString() ?? '-'}\n`);
      });
      return;
    case 'revoke': {
      const keyId = values['key-id'];
      if (typeof keyId !== 'string') fail(2, usage);
      await run(async () => {
        const result = await db.query(`UPDATE metrics_api_key SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL`, [keyId]);
        if (result.rowCount !== 1) fail(1, `no live key ${keyId}`);
      });
      process.stdout.write(`revoked ${keyId}\n`);
      return;
    }
    default:
      fail(2, usage);
  }
}

main().catch((error: unknown) => fail(1, (error as Error).message));
