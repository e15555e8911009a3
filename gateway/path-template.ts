/**
 * google.api.http path templates: literal segments, `{field}` and `{field=pattern}` variables
 * (`*` one segment, `**` the rest), and a trailing `:verb`. Hand-written: no maintained npm
 * package parses this grammar (grpc-gateway's parser is Go).
 */
export interface CompiledTemplate {
  readonly template: string;
  readonly regex: RegExp;
  /** Field paths of the variables, in order (e.g. "model_name", "metadata.model_name"). */
  readonly fields: readonly string[];
  /** Literal segments count first when two templates match the same path. */
  readonly specificity: number;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function compileTemplate(template: string): CompiledTemplate {
  let rest = template;
  let verb = '';
  // A `:verb` sits in the last segment, after any variable in it.
  const last = template.slice(template.lastIndexOf('/') + 1);
  const colon = last.indexOf(':', last.lastIndexOf('}') + 1);
  if (colon >= 0) {
    verb = last.slice(colon + 1);
    rest = template.slice(0, template.length - last.length + colon);
  }
  const fields: string[] = [];
  let literals = 0;
  const segments = rest.split('/').slice(1);
  const parts = segments.map((seg) => {
    const v = /^\{([a-zA-Z_][\w.]*)(?:=([^}]*))?\}$/.exec(seg);
    if (v === null) {
      if (seg === '*') return '[^/]+';
      if (seg === '**') return '.+';
      literals++;
      return escape(seg);
    }
    fields.push(v[1] as string);
    const pattern = v[2] ?? '*';
    return pattern === '**'
      ? '(.+)'
      : pattern === '*'
        ? '([^/:]+)'
        : `(${pattern
            .split('/')
            .map((p) => (p === '*' ? '[^/]+' : p === '**' ? '.+' : escape(p)))
            .join('/')})`;
  });
  const source = `^/${parts.join('/')}${verb === '' ? '' : `:${escape(verb)}`}$`;
  return { template, regex: new RegExp(source), fields, specificity: literals * 2 + (verb === '' ? 0 : 1) };
}

/** The variables a path binds, URL-decoded; null when it does not match. */
export function matchTemplate(t: CompiledTemplate, path: string): Record<string, string> | null {
  const m = t.regex.exec(path);
  if (m === null) return null;
  const out: Record<string, string> = {};
  t.fields.forEach((f, i) => {
    out[f] = decodeURIComponent(m[i + 1] as string);
  });
  return out;
}
