import { createHash } from 'node:crypto';

/**
 * The config hash binds a token to a package and the set of logins a gateway trades with:
 * SHA-256(package name || for each login, sorted by UTF-8 bytes and deduplicated: 0x00 || login).
 * With no logins it is SHA-256 of the package name alone, the same for every market-data gateway.
 */
export function configHash(packageName: string, logins: Iterable<string>): Uint8Array {
  // A NUL inside a name, or an empty login, would let two different configs share a hash.
  if (packageName === '' || packageName.includes('\0')) throw new RangeError(`package name ${JSON.stringify(packageName)} must be non-empty and free of NUL characters`);
  for (const login of logins) {
    if (login === '' || login.includes('\0')) throw new RangeError(`login ${JSON.stringify(login)} must be non-empty and free of NUL characters`);
  }
  const unique = [...new Set(logins)].map((login) => Buffer.from(login, 'utf8'));
  // Buffer.compare orders by bytes, which is not JavaScript's UTF-16 string order.
  unique.sort(Buffer.compare);
  const hash = createHash('sha256').update(Buffer.from(packageName, 'utf8'));
  for (const login of unique) hash.update(Buffer.of(0)).update(login);
  return new Uint8Array(hash.digest());
}
