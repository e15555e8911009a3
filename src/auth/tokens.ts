/**
 * API tokens with scopes. Entries are `name scopes token`, separated by newlines or `;`
 * (`#` starts a comment): `ci registry:read,registry:write 3f1c...` or, to keep the secret out
 * of the configuration, `ci registry:read sha256:<hex of the token's SHA-256>`.
 *
 * Only SHA-256 hashes are kept in memory. A presented token is hashed and compared with every
 * entry using crypto.timingSafeEqual (no early exit), so the time taken does not depend on how
 * much of a token matched, nor on which entry did. Hand-written: no library does this small
 * part (passport and friends bring whole frameworks; we need a hash table of 32-byte digests).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { invalidConfig } from '../core/errors.js';

export const SCOPES = ['infer', 'registry:read', 'registry:write', 'registry:promote'] as const;
export type Scope = (typeof SCOPES)[number];

export interface Principal {
  /** The token's name: the actor in the audit log. */
  readonly name: string;
  readonly scopes: ReadonlySet<Scope>;
}

interface Entry extends Principal {
  readonly digest: Buffer;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const HASHED = /^sha256:([0-9a-f]{64})$/;
/** Shorter plaintext tokens are refused: they could be guessed. */
export const MIN_TOKEN_LENGTH = 16;

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

export class TokenSet {
  private constructor(private readonly entries: readonly Entry[]) {}

  static readonly EMPTY = new TokenSet([]);

  /** Parses entries; `where` names the source in error messages (never the token). */
  static parse(text: string, where: string): TokenSet {
    const entries: Entry[] = [];
    const lines = text.split(/[;\n]/);
    lines.forEach((raw, i) => {
      const line = raw.replace(/#.*$/, '').trim();
      if (line === '') return;
      const fields = line.split(/\s+/);
      const at = `${where}, entry ${i + 1}`;
      if (fields.length !== 3) throw invalidConfig(`${at}: expected 'name scopes token', got ${fields.length} field(s)`);
      const [name, scopeList, secret] = fields as [string, string, string];
      if (!NAME.test(name)) throw invalidConfig(`${at}: token name '${name}' must match ${NAME.source}`);
      const scopes = new Set<Scope>();
      for (const s of scopeList.split(',')) {
        if (!(SCOPES as readonly string[]).includes(s)) throw invalidConfig(`${at}: unknown scope '${s}' (scopes: ${SCOPES.join(', ')})`);
        scopes.add(s as Scope);
      }
      const hashed = HASHED.exec(secret);
      if (hashed === null && secret.length < MIN_TOKEN_LENGTH)
        throw invalidConfig(
          `${at}: the token for '${name}' is shorter than ${MIN_TOKEN_LENGTH} characters (or give sha256:<64 hex digits>)`,
        );
      const digest = hashed === null ? sha256(secret) : Buffer.from(hashed[1]!, 'hex');
      if (entries.some((e) => e.name === name)) throw invalidConfig(`${at}: token name '${name}' is given twice`);
      if (entries.some((e) => e.digest.equals(digest)))
        throw invalidConfig(`${at}: the token for '${name}' is the same as another entry's`);
      entries.push({ name, scopes, digest });
    });
    return new TokenSet(entries);
  }

  /** The tokens from the options: authTokens (environment, config, flag) and authTokensFile. */
  static fromOptions(options: { readonly authTokens: string; readonly authTokensFile: string }): TokenSet {
    const inline = options.authTokens === '' ? [] : TokenSet.parse(options.authTokens, 'option authTokens').entries;
    let fromFile: readonly Entry[] = [];
    if (options.authTokensFile !== '') {
      let text: string;
      try {
        text = readFileSync(options.authTokensFile, 'utf8');
      } catch (err) {
        throw invalidConfig(`option authTokensFile: cannot read ${options.authTokensFile}: ${(err as Error).message}`);
      }
      fromFile = TokenSet.parse(text, `authTokensFile ${options.authTokensFile}`).entries;
    }
    for (const e of fromFile)
      if (inline.some((i) => i.name === e.name)) throw invalidConfig(`token name '${e.name}' is in both authTokens and authTokensFile`);
    return new TokenSet([...inline, ...fromFile]);
  }

  get size(): number {
    return this.entries.length;
  }

  /** The principal whose token this is, or undefined. Constant time in the token's content. */
  authenticate(token: string): Principal | undefined {
    const digest = sha256(token);
    let found: Entry | undefined;
    for (const e of this.entries) {
      if (timingSafeEqual(e.digest, digest) && found === undefined) found = e;
    }
    return found === undefined ? undefined : { name: found.name, scopes: found.scopes };
  }
}
