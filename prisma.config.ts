/**
 * Prisma CLI configuration (Prisma 7 reads it instead of URLs in schema.prisma).
 *
 * In this repository the CLI is only used for `prisma generate` (tools/db/generate.ts) and ad-hoc
 * tools; migrations run through tools/db/migrate.ts, which needs no engine download. The
 * datasource URL is optional so that generating the client never requires DATABASE_URL.
 */
import path from 'node:path';
import { defineConfig } from 'prisma/config';

const databaseUrl = process.env['DATABASE_URL'];

export default defineConfig({
  schema: path.join('prisma', 'schema.prisma'),
  migrations: { path: path.join('prisma', 'migrations') },
  ...(databaseUrl ? { datasource: { url: databaseUrl } } : {}),
});
