import { TextCache } from './text-cache';

describe('TextCache', () => {
  const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');

  it('reads what toString reads, for every length from empty to past the cached maximum', () => {
    const cache = new TextCache('utf8', 4);
    for (let length = 0; length <= 70; length++) {
      const text = Array.from({ length }, (_, i) => String.fromCharCode(97 + ((i * 7 + length) % 26))).join('');
      const buffer = Buffer.concat([Buffer.from('xx'), Buffer.from(text), Buffer.from('yy')]);
      expect(cache.read(buffer, 2, 2 + length)).toBe(text);
      expect(cache.read(buffer, 2, 2 + length)).toBe(text);
    }
  });

  it('gives back the very string it read before for the same bytes, wherever they sit', () => {
    const cache = new TextCache('utf8');
    const first = cache.read(bytes('gateway-host-1'), 0, 14);
    const again = cache.read(Buffer.concat([Buffer.from('prefix'), bytes('gateway-host-1')]), 6, 20);
    expect(again).toBe(first);
  });

  it('never answers with another text that landed in the same slot (a cache of two slots)', () => {
    const cache = new TextCache('base64', 1);
    const keys = [Buffer.alloc(32, 1), Buffer.alloc(32, 2), Buffer.from(Buffer.alloc(32, 1).fill(9, 31))];
    for (let round = 0; round < 3; round++) for (const key of keys) expect(cache.read(key, 0, 32)).toBe(key.toString('base64'));
  });

  it('tells texts apart that differ only in the bytes past the last whole word', () => {
    const cache = new TextCache('utf8', 1);
    expect(cache.read(Buffer.from('abcdefg1'), 0, 8)).toBe('abcdefg1');
    expect(cache.read(Buffer.from('abcdefgh1'), 0, 9)).toBe('abcdefgh1');
    expect(cache.read(Buffer.from('abcdefgh2'), 0, 9)).toBe('abcdefgh2');
  });
});
