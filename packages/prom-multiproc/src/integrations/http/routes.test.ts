// The route matcher runs on every request and walks the path in place (no split): the same
// answers as splitting the path on "/" and dropping the empty segments would give.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { routeMatcher } from './routes.js';

describe('routeMatcher', () => {
  const match = routeMatcher(['/', '/users/:id', '/users/:id/posts', '/files/*', '/a/*/b', '/users/me']);
  const cases: [string, string | undefined][] = [
    ['/', '/'],
    ['', '/'],
    ['//', '/'],
    ['/?x=1', '/'],
    ['/users/42', '/users/:id'],
    ['/users/42/', '/users/:id'],
    ['//users//42', '/users/:id'],
    ['/users/42?next=/users/1/posts', '/users/:id'],
    ['/users/me', '/users/:id'], // the first pattern that matches wins
    ['/users', undefined],
    ['/users/42/posts', '/users/:id/posts'],
    ['/users/42/posts/7', undefined],
    ['/user/42', undefined],
    ['/usersx/42', undefined],
    ['/files', '/files/*'],
    ['/files/a/b/c', '/files/*'],
    ['/filesx/a', undefined],
    ['/a/x/b', undefined], // `*` only at the end
    ['/nope', undefined],
  ];
  for (const [url, expected] of cases) {
    it(`${JSON.stringify(url)} -> ${String(expected)}`, () => assert.equal(match(url), expected));
  }

  it('rejects a pattern without a leading slash', () => {
    assert.throws(() => routeMatcher(['users/:id']), /must start with "\/"/);
  });
});
