// Route patterns for plain node:http, which has none of its own: `/users/:id`, `/files/*`.
// The label is the pattern, never the path, so the number of series stays bounded.
// Matching runs on every request, so it walks the path in place: no split, no array per request.

const SLASH = 0x2f;
const COLON = 0x3a;

interface CompiledRoute {
  pattern: string;
  /** The pattern's non-empty segments: a literal, `:name` (any one segment), or a final `*`. */
  segments: string[];
}

function compile(pattern: string): CompiledRoute {
  if (!pattern.startsWith('/')) throw new Error(`route pattern ${JSON.stringify(pattern)} must start with "/"`);
  return { pattern, segments: pattern.split('/').filter((segment) => segment !== '') };
}

/**
 * Whether the path `url.slice(0, end)` matches. Empty segments (`//`, a trailing `/`) are
 * skipped, as if the path had been split on `/` and the empty parts dropped.
 */
function matches({ segments }: CompiledRoute, url: string, end: number): boolean {
  const count = segments.length;
  let position = 0;
  for (let i = 0; ; i++) {
    while (position < end && url.charCodeAt(position) === SLASH) position++;
    if (position >= end) return i === count || (i === count - 1 && segments[i] === '*');
    if (i >= count) return false;
    const segment = segments[i]!;
    // A final `*` takes the rest, however many segments; anywhere else it matches nothing.
    if (segment === '*') return i === count - 1;
    let next = url.indexOf('/', position);
    if (next < 0 || next > end) next = end;
    if (segment.charCodeAt(0) !== COLON && (next - position !== segment.length || !url.startsWith(segment, position))) return false;
    position = next;
  }
}

/**
 * A function from a request path to the first pattern it matches, or undefined.
 * `:name` matches one segment, a final `*` the rest; the query string is ignored.
 */
export function routeMatcher(patterns: readonly string[]): (url: string) => string | undefined {
  const routes = patterns.map(compile);
  return (url) => {
    const query = url.indexOf('?');
    const end = query < 0 ? url.length : query;
    for (const route of routes) if (matches(route, url, end)) return route.pattern;
    return undefined;
  };
}
