// Route patterns for plain node:http, which has none of its own: `/users/:id`, `/files/*`.
// The label is the pattern, never the path, so the number of series stays bounded.

interface CompiledRoute {
  pattern: string;
  segments: string[];
}

function splitPath(pathname: string): string[] {
  return pathname.split('/').filter((segment) => segment !== '');
}

function compile(pattern: string): CompiledRoute {
  if (!pattern.startsWith('/')) throw new Error(`route pattern ${JSON.stringify(pattern)} must start with "/"`);
  return { pattern, segments: splitPath(pattern) };
}

function matches(route: CompiledRoute, parts: string[]): boolean {
  const { segments } = route;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    if (segment === '*') return i === segments.length - 1 && parts.length >= i;
    if (i >= parts.length) return false;
    if (segment.startsWith(':')) continue;
    if (segment !== parts[i]) return false;
  }
  return parts.length === segments.length;
}

/**
 * A function from a request path to the first pattern it matches, or undefined.
 * `:name` matches one segment, a final `*` the rest; the query string is ignored.
 */
export function routeMatcher(patterns: readonly string[]): (url: string) => string | undefined {
  const routes = patterns.map(compile);
  return (url) => {
    const query = url.indexOf('?');
    const parts = splitPath(query < 0 ? url : url.slice(0, query));
    return routes.find((route) => matches(route, parts))?.pattern;
  };
}
