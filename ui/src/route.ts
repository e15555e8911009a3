/** The console's addresses: hash fragments such as #/models/NAME/versions/3 or #/runs?experiment=E. */
export type Route =
  | { readonly page: 'models'; readonly key: string }
  | { readonly page: 'model'; readonly key: string; readonly model: string }
  | { readonly page: 'version'; readonly key: string; readonly model: string; readonly version: string }
  | { readonly page: 'runs'; readonly key: string; readonly experiment: string }
  | { readonly page: 'rollouts'; readonly key: string }
  | { readonly page: 'audit'; readonly key: string; readonly model: string };

export function parseRoute(hash: string): Route {
  const key = hash.replace(/^#/, '') || '/';
  const [path = '/', search = ''] = key.split('?');
  const params = new URLSearchParams(search);
  const parts = path
    .split('/')
    .filter((p) => p !== '')
    .map(decodeURIComponent);
  if (parts[0] === 'models' && parts[1] !== undefined) {
    if (parts[2] === 'versions' && parts[3] !== undefined) return { page: 'version', key, model: parts[1], version: parts[3] };
    return { page: 'model', key, model: parts[1] };
  }
  if (parts[0] === 'runs') return { page: 'runs', key, experiment: params.get('experiment') ?? '' };
  if (parts[0] === 'rollouts') return { page: 'rollouts', key };
  if (parts[0] === 'audit') return { page: 'audit', key, model: params.get('model') ?? '' };
  return { page: 'models', key };
}

export const modelHref = (name: string): string => `#/models/${encodeURIComponent(name)}`;
export const versionHref = (name: string, version: number | string): string =>
  `${modelHref(name)}/versions/${encodeURIComponent(String(version))}`;
export const runsHref = (experiment: string): string => `#/runs?experiment=${encodeURIComponent(experiment)}`;
