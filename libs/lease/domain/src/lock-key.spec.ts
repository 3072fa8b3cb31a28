import { configHashOf, lockKeyOf } from './lock-key';
import { hashOf } from './testing/fixtures';

describe('lock keys', () => {
  it('packs a hex config hash into 32 one-byte characters and back', () => {
    const hash = '00ff10a0' + hashOf(0x7e).slice(8);
    const key = lockKeyOf(hash);
    expect(key).toHaveLength(32);
    expect(configHashOf(key)).toBe(hash);
  });

  it('keeps anything else verbatim, and never collides with a packed key', () => {
    for (const odd of ['', 'abc', hashOf(0xab).toUpperCase(), `${hashOf(0xab).slice(0, 63)}g`, 'x'.repeat(32)]) {
      const key = lockKeyOf(odd);
      expect(configHashOf(key)).toBe(odd);
      expect(key).not.toBe(lockKeyOf(hashOf(0xab)));
    }
    // A 32-char text that looks like a packed key stays distinct from the hash it would pack to.
    const packed = lockKeyOf(hashOf(0x41));
    expect(lockKeyOf(packed)).not.toBe(packed);
  });
});
