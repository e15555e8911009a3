/**
 * The console's shell: the header (pages, the registry token), the hash router, and the page
 * for the address. Routes are hash fragments (#/models/NAME), so the server serves one file
 * and any address reloads; Preact renders every page.
 */
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

import { getToken, setToken } from './api.js';
import { AuditPage } from './pages/audit.js';
import { ModelPage } from './pages/model.js';
import { ModelsPage } from './pages/models.js';
import { RolloutsPage } from './pages/rollouts.js';
import { RunsPage } from './pages/runs.js';
import { VersionPage } from './pages/version.js';
import { type Route, parseRoute } from './route.js';

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = (): void => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

/** The registry token, typed here and kept for this tab only; changing it reloads the page's data. */
function TokenForm({ onChange }: { onChange: () => void }) {
  const [saved, setSaved] = useState(getToken() !== '');
  const input = useRef<HTMLInputElement>(null);
  const save = (e: Event): void => {
    e.preventDefault();
    setToken(input.current?.value.trim() ?? '');
    if (input.current !== null) input.current.value = '';
    setSaved(getToken() !== '');
    onChange();
  };
  const forget = (): void => {
    setToken('');
    setSaved(false);
    onChange();
  };
  return (
    <form class="token-form" onSubmit={save} aria-label="Registry token">
      <label for="token-input">Registry token</label>
      <input
        id="token-input"
        type="password"
        autoComplete="off"
        placeholder={saved ? 'saved for this tab' : 'none: read-only'}
        ref={input}
      />
      <button class="secondary" type="submit">
        Use token
      </button>
      {saved && (
        <button class="secondary" type="button" onClick={forget}>
          Forget token
        </button>
      )}
      <span role="status" data-token-state>
        {saved ? 'token set' : 'read-only'}
      </span>
    </form>
  );
}

const NAV: ReadonlyArray<{ href: string; label: string; page: Route['page'][] }> = [
  { href: '#/', label: 'Models', page: ['models', 'model', 'version'] },
  { href: '#/runs', label: 'Runs', page: ['runs'] },
  { href: '#/rollouts', label: 'Rollouts', page: ['rollouts'] },
  { href: '#/audit', label: 'Audit log', page: ['audit'] },
];

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'model':
      return <ModelPage name={route.model} />;
    case 'version':
      return <VersionPage name={route.model} version={route.version} />;
    case 'runs':
      return <RunsPage experiment={route.experiment} />;
    case 'rollouts':
      return <RolloutsPage />;
    case 'audit':
      return <AuditPage model={route.model} />;
    default:
      return <ModelsPage />;
  }
}

function App() {
  const route = useRoute();
  // A new token may read what the old one could not: render the page anew.
  const [generation, setGeneration] = useState(0);
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);
  useEffect(() => {
    // Moving to another page moves the focus to its heading, as a page load would.
    if (first.current) first.current = false;
    else main.current?.querySelector<HTMLElement>('h1')?.focus();
  }, [route.key]);
  return (
    <>
      <a class="skip-link" href="#main" onClick={(e) => (e.preventDefault(), main.current?.querySelector<HTMLElement>('h1')?.focus())}>
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="#/">
          Quiver
        </a>
        <nav aria-label="Pages">
          <ul>
            {NAV.map((n) => (
              <li key={n.href}>
                <a href={n.href} aria-current={n.page.includes(route.page) ? 'page' : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <TokenForm onChange={() => setGeneration((g) => g + 1)} />
      </header>
      <main id="main" ref={main}>
        <Page key={`${route.key}#${generation}`} route={route} />
      </main>
      <div id="announcer" class="visually-hidden" role="status" aria-live="polite" />
    </>
  );
}

const root = document.getElementById('app');
if (root !== null) render(<App />, root);
