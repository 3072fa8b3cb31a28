import { CopyBuffer, copyEscape } from './copy-buffer';

describe('CopyBuffer', () => {
  it('writes COPY text rows: escapes, NULL, UTF-8, integers and booleans', () => {
    const out = new CopyBuffer(16);
    const texts = ['plain', 'a\\b\tc\nd\re', 'gw-ü-€-😀\t\\x', '', 'x'.repeat(10_000)];
    for (const text of texts) {
      out.text(text);
      out.tab();
    }
    out.text(null);
    out.tab();
    out.bool(true);
    out.bool(false);
    out.endRow();
    const integers = [0, 7, 9, 10, 99, 100, 123456789, 2 ** 32, 2 ** 53 - 1, 1e15, 999999999999999];
    for (const n of integers) {
      out.integer(n);
      out.tab();
    }
    out.integer(2 ** 53);
    out.endRow();
    expect(out.rows).toBe(2);
    expect(out.bytes().toString('utf8')).toBe(
      `${texts.map(copyEscape).join('\t')}\t\\N\ttf\n${integers.map(String).join('\t')}\t${String(2 ** 53)}\n`,
    );
    expect(copyEscape('a\\b\tc\nd\re')).toBe('a\\\\b\\tc\\nd\\re');
  });

  it('grows from any size without losing what was written', () => {
    const out = new CopyBuffer(1);
    let expected = '';
    for (let i = 0; i < 5000; i++) {
      out.integer(i * 7919);
      out.tab();
      out.text(`s-${i}-é`);
      out.endRow();
      expected += `${i * 7919}\ts-${i}-é\n`;
    }
    expect(out.bytes().toString('utf8')).toBe(expected);
  });
});
