// Credentials of the standalone exporter: a bearer token or HTTP basic users, read from files
// (never from the command line, where every local user can read them in the process list),
// compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { reportOnce } from '../common/report.js';

export interface BasicCredential {
  user: string;
  password: string;
}

export interface ExporterCredentials {
  bearerToken?: string | undefined;
  basicAuth?: readonly BasicCredential[] | undefined;
}

export class CredentialsFileError extends Error {
  override name = 'CredentialsFileError';
}

/** Digests first, so the comparison takes as long whatever the lengths and contents. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * A check of the Authorization header against the configured credentials, and the
 * WWW-Authenticate challenge to answer a failure with; undefined when none are configured.
 */
export function authorizer(credentials: ExporterCredentials): { check(header: string | undefined): boolean; challenge: string } | undefined {
  const { bearerToken, basicAuth } = credentials;
  if (bearerToken !== undefined && basicAuth !== undefined) {
    throw new CredentialsFileError('give a bearer token or basic-auth users, not both');
  }
  if (bearerToken !== undefined) {
    return {
      challenge: 'Bearer realm="prom-multiproc"',
      check(header) {
        const match = /^Bearer +(\S+) *$/i.exec(header ?? '');
        return sameSecret(match?.[1] ?? '', bearerToken) && match !== null;
      },
    };
  }
  if (basicAuth !== undefined) {
    return {
      challenge: 'Basic realm="prom-multiproc", charset="UTF-8"',
      check(header) {
        const match = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(header ?? '');
        const decoded = match === null ? '' : Buffer.from(match[1]!, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        const user = colon < 0 ? '' : decoded.slice(0, colon);
        const password = colon < 0 ? '' : decoded.slice(colon + 1);
        // Every user is compared, so the time does not tell which user names exist.
        let found = false;
        for (const credential of basicAuth) {
          const matches = sameSecret(user, credential.user) && sameSecret(password, credential.password);
          found = matches || found;
        }
        return found && colon > 0;
      },
    };
  }
  return undefined;
}

function readSecretFile(file: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CredentialsFileError(`cannot read the ${what} file ${file}: ${(error as Error).message}`);
  }
  const mode = statSync(file).mode;
  if (process.getuid !== undefined && (mode & 0o077) !== 0) {
    reportOnce(`secret-mode\u0000${file}`, new Error(
      `the ${what} file ${file} can be read by other users (mode ${(mode & 0o777).toString(8)}); run "chmod 600 ${file}".`,
    ));
  }
  return text;
}

/** The token of a file holding just the token (a trailing newline is ignored). */
export function readBearerTokenFile(file: string): string {
  const token = readSecretFile(file, 'bearer token').replace(/\r?\n$/, '');
  if (token === '') throw new CredentialsFileError(`the bearer token file ${file} is empty`);
  if (/\s/.test(token)) throw new CredentialsFileError(`the bearer token in ${file} contains white space or several lines; put the token alone in the file`);
  return token;
}

/**
 * Users of a file of `user:password` lines (htpasswd's layout, with plain-text passwords;
 * blank lines and lines starting with # are ignored).
 */
export function readBasicAuthFile(file: string): BasicCredential[] {
  const credentials: BasicCredential[] = [];
  readSecretFile(file, 'basic-auth').split(/\r?\n/).forEach((line, index) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const where = `${file} line ${index + 1}`;
    const colon = line.indexOf(':');
    if (colon <= 0 || colon === line.length - 1) throw new CredentialsFileError(`${where} is not "user:password"`);
    const user = line.slice(0, colon);
    const password = line.slice(colon + 1);
    if (/^(\$2[abxy]?\$|\$apr1\$|\$[156]\$|\{SHA\})/.test(password)) {
      throw new CredentialsFileError(
        `${where} holds a hashed password (htpasswd -B or -m); give the password in plain text, in a file only the exporter's user can read`,
      );
    }
    if (credentials.some((credential) => credential.user === user)) throw new CredentialsFileError(`${where}: user ${user} appears twice`);
    credentials.push({ user, password });
  });
  if (credentials.length === 0) throw new CredentialsFileError(`the basic-auth file ${file} holds no "user:password" line`);
  return credentials;
}
