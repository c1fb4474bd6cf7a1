import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { plainScrape } from './cliScrape.js';

describe('plainScrape', () => {
  it('recognizes scrape with --dir, in either spelling, and --openmetrics on either side', () => {
    assert.deepEqual(plainScrape(['scrape', '--dir', 'd']), { dir: 'd', openMetrics: false });
    assert.deepEqual(plainScrape(['scrape', '--dir=d']), { dir: 'd', openMetrics: false });
    assert.deepEqual(plainScrape(['scrape', '--openmetrics', '--dir', 'd']), { dir: 'd', openMetrics: true });
    assert.deepEqual(plainScrape(['scrape', '--dir', 'd', '--openmetrics']), { dir: 'd', openMetrics: true });
  });

  it('leaves every other command line to the parser', () => {
    for (const args of [
      [],
      ['scrape'],
      ['scrape', '--openmetrics'],
      ['scrape', '--dir'],
      ['scrape', '--dir', ''],
      ['scrape', '--dir='],
      ['scrape', '--dir', '--openmetrics'],
      ['scrape', '--dir', 'a', '--dir', 'b'],
      ['scrape', '--dir', 'd', '--openmetrics', '--openmetrics'],
      ['scrape', '--dir', 'd', '--help'],
      ['scrape', '--dir', 'd', '--json'],
      ['scrape', '--dir', 'd', 'extra'],
      ['--version'],
      ['clean', '--dir', 'd'],
      ['--', 'scrape', '--dir', 'd'],
    ]) {
      assert.equal(plainScrape(args), undefined, args.join(' '));
    }
  });
});
