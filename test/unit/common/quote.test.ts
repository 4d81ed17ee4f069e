import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QUOTE_PREFIX_CHARS, quoteInput } from '../../../server/common/quote.js';

describe('quoteInput', () => {
  it('quotes short input whole, escaped as a JSON string', () => {
    assert.equal(quoteInput('DfuTarg'), '"DfuTarg"');
    assert.equal(quoteInput('a"b\\c\nd\u0000'), '"a\\"b\\\\c\\nd\\u0000"');
    assert.equal(quoteInput(''), '""');
  });

  it('escapes what JSON leaves invisible: C1 controls, line separators, bidirectional overrides', () => {
    assert.equal(quoteInput('a\u0085b\u2028c\u202ed\u2066'), '"a\\u0085b\\u2028c\\u202ed\\u2066"');
  });

  it('shows only a prefix of long input, in code points, never splitting a surrogate pair', () => {
    const huge = 'A'.repeat(56 * 1024 * 1024);
    assert.equal(quoteInput(huge), `"${'A'.repeat(QUOTE_PREFIX_CHARS)}"…`);
    assert.equal(quoteInput('x'.repeat(QUOTE_PREFIX_CHARS)), `"${'x'.repeat(QUOTE_PREFIX_CHARS)}"`);
    assert.equal(quoteInput('😀'.repeat(10), 3), '"😀😀😀"…');
    assert.equal(quoteInput(`a${'😀'.repeat(10)}`, 3), '"a😀😀"…');
  });
});
