/**
 * The README's runnable examples, read from README.md itself so that tests run what users
 * read: fenced blocks marked `<!-- example: NAME -->` (a command or a snippet) or
 * `<!-- output: NAME -->` (what one prints), the commands of a bash block with the JSON their
 * comments show, shell words as bash splits them, and the shape of a JSON value.
 */

/** The bodies of the fenced blocks right after a `<!-- KIND: NAME -->` comment, in order. */
export function markedBlocks(markdown: string, kind: 'example' | 'output', name: string): string[] {
  const marker = new RegExp(`<!--\\s*${kind}:\\s*${name.replace(/[^\w-]/g, '\\$&')}\\s*-->[ \\t]*\\n\\s*(\`{3,})[^\\n]*\\n`, 'g');
  const out: string[] = [];
  for (const m of markdown.matchAll(marker)) {
    const start = m.index + m[0].length;
    const fence = m[1]!;
    const end = markdown.indexOf(`\n${fence}`, start - 1);
    if (end < 0) throw new Error(`README.md: the block marked <!-- ${kind}: ${name} --> is not closed`);
    out.push(markdown.slice(start, end + 1));
  }
  return out;
}

/** Like markedBlocks, but at least one block: the README must keep its runnable examples. */
export function requiredBlocks(markdown: string, kind: 'example' | 'output', name: string): string[] {
  const blocks = markedBlocks(markdown, kind, name);
  if (blocks.length === 0) throw new Error(`README.md has no fenced block marked <!-- ${kind}: ${name} -->`);
  return blocks;
}

export interface ShellCommand {
  /** The command as bash reads it (continuation lines included, comments left out). */
  readonly text: string;
  /** What its comments show it prints: a `# ...` after it on its line, or the `#` lines right below it, when that is JSON. */
  readonly output?: unknown;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Splits a bash block into its commands: a line goes on after a backslash-newline or inside
 * an open quote; `#` starts a comment only at the start of a word outside quotes.
 */
export function shellCommands(block: string): ShellCommand[] {
  const lines: Array<{ code: string; comment: string }> = [];
  let code = '';
  let comment: string | undefined;
  let quote: '' | "'" | '"' = '';
  for (let i = 0; i < block.length; i++) {
    const c = block[i]!;
    if (comment !== undefined) {
      if (c === '\n') {
        lines.push({ code: code.trim(), comment: comment.trim() });
        code = '';
        comment = undefined;
      } else comment += c;
    } else if (quote !== '') {
      code += c;
      if (c === '\\' && quote === '"') code += block[++i] ?? '';
      else if (c === quote) quote = '';
    } else if (c === '\\') {
      code += c + (block[++i] ?? '');
    } else if (c === "'" || c === '"') {
      quote = c;
      code += c;
    } else if (c === '#' && (code === '' || /\s$/.test(code))) {
      comment = '';
    } else if (c === '\n') {
      lines.push({ code: code.trim(), comment: '' });
      code = '';
    } else code += c;
  }
  if (code.trim() !== '' || comment !== undefined) lines.push({ code: code.trim(), comment: (comment ?? '').trim() });

  const commands: ShellCommand[] = [];
  for (let i = 0; i < lines.length; i++) {
    const { code: text, comment: trailing } = lines[i]!;
    if (text === '') continue;
    const below: string[] = [];
    for (let j = i + 1; j < lines.length && lines[j]!.code === '' && lines[j]!.comment !== ''; j++) below.push(lines[j]!.comment);
    const output = parseJson(trailing) ?? (below.length > 0 ? parseJson(below.join(' ')) : undefined);
    commands.push(output === undefined ? { text } : { text, output });
  }
  return commands;
}

/** The words bash makes of a simple command: quotes removed, backslash-newlines joined. */
export function shellWords(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unclosed ' in: ${text}`);
      word = (word ?? '') + text.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      word ??= '';
      for (i++; i < text.length && text[i] !== '"'; i++)
        word += text[i] === '\\' && /["\\$`]/.test(text[i + 1] ?? '') ? text[++i] : text[i];
      if (i >= text.length) throw new Error(`unclosed " in: ${text}`);
    } else if (c === '\\') {
      const next = text[++i] ?? '';
      if (next !== '\n') word = (word ?? '') + next;
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else word = (word ?? '') + c;
  }
  if (word !== undefined) words.push(word);
  return words;
}

export type Shape = string | Shape[] | { [key: string]: Shape };

/**
 * A JSON value's shape: objects by their keys, arrays by the distinct shapes of their
 * elements, everything else by its type. Two answers with the same keys and types have the
 * same shape, whatever their numbers.
 */
export function shapeOf(value: unknown): Shape {
  if (Array.isArray(value)) {
    const distinct = new Set(value.map((v) => JSON.stringify(shapeOf(v))));
    return [...distinct].sort().map((s) => JSON.parse(s) as Shape);
  }
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, shapeOf((value as Record<string, unknown>)[k])]),
    );
  return value === null ? 'null' : typeof value;
}
