import { apiInteger, approximate } from './json-integer';

describe('apiInteger', () => {
  it('answers a number while a double holds the value exactly, and its decimal string beyond', () => {
    expect(apiInteger(null)).toBe(0);
    expect(apiInteger(undefined)).toBe(0);
    expect(apiInteger('0')).toBe(0);
    expect(apiInteger(180)).toBe(180);
    expect(apiInteger(4n)).toBe(4);
    expect(apiInteger('9007199254740991')).toBe(9007199254740991);
    expect(apiInteger('-9007199254740991')).toBe(-9007199254740991);
    expect(apiInteger('9007199254740992')).toBe('9007199254740992');
    expect(apiInteger(9223372036854775807n)).toBe('9223372036854775807');
    expect(apiInteger('36893488147419103228')).toBe('36893488147419103228');
    // JSON keeps the string's digits as they are.
    expect(JSON.parse(JSON.stringify({ sum: apiInteger('73786976294838206460') }))).toEqual({ sum: '73786976294838206460' });
  });

  it('refuses what is not an exact integer rather than answer a wrong one', () => {
    expect(() => apiInteger('1.5')).toThrow(/not an integer/);
    expect(() => apiInteger('3.6893488147419103e+19')).toThrow(/not an integer/);
    expect(() => apiInteger(2 ** 60)).toThrow(/not an exact integer/);
    expect(() => apiInteger({})).toThrow(/not an integer/);
  });

  it('approximates for estimates', () => {
    expect(approximate(7)).toBe(7);
    expect(approximate('36893488147419103228')).toBe(Number(36893488147419103228n));
  });
});
