import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Bearer-token check for `--token-file`. Both sides are hashed first so the comparison is constant-time whatever
 * the presented token's length (timingSafeEqual needs equal lengths, and comparing lengths first would leak it).
 */
export class BearerAuth {
  private readonly digest: Buffer;

  constructor(token: string) {
    this.digest = sha256(token);
  }

  /** Whether an `Authorization` header value carries the token. */
  allows(header: string | undefined): boolean {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
    return match?.[1] !== undefined && timingSafeEqual(sha256(match[1]), this.digest);
  }
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** The token in a `--token-file`: its content without surrounding whitespace (a trailing newline is usual). */
export function tokenFromFile(text: string, file: string): string {
  const token = text.trim();
  if (/\s/.test(token)) throw new Error(`${file}: a bearer token cannot contain whitespace`);
  return token;
}
