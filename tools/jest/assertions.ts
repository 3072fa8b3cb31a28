/**
 * Loaded into every Jest project (jest.preset.js): a test that ends without running a single
 * `expect` fails, so an early return or a branch that skips every check cannot pass unnoticed.
 */
beforeEach(() => {
  expect.hasAssertions();
});
