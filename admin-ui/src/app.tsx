import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Api, ApiError, TOKEN_KEY, type Session } from './api';
import { useLive, type Live } from './live';
import { ModelPage } from './model-page';
import { Overview } from './overview';

const EXPIRED = 'The gateway no longer accepts this token (a restarted gateway may print a new one). Sign in again.';

export function App() {
  // sessionStorage: gone with the tab, never sent anywhere but the Authorization header.
  const [token, setToken] = useState<string | null>(() => sessionStorage.getItem(TOKEN_KEY));
  const [session, setSession] = useState<Session | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const signIn = (newToken: string, newSession: Session): void => {
    sessionStorage.setItem(TOKEN_KEY, newToken);
    setSession(newSession);
    setNotice(null);
    setToken(newToken);
  };
  const signOut = (message: string | null = null): void => {
    sessionStorage.removeItem(TOKEN_KEY);
    setSession(null);
    setNotice(message);
    setToken(null);
  };

  if (token === null) return <SignIn notice={notice} onSignedIn={signIn} />;
  return <Console token={token} session={session} onSession={setSession} onSignOut={signOut} />;
}

function SignIn({ notice, onSignedIn }: { notice: string | null; onSignedIn: (token: string, session: Session) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(notice);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const value = token.trim();
    if (value === '') {
      setError('Enter an admin token.');
      return;
    }
    setBusy(true);
    try {
      onSignedIn(value, await new Api(value).session());
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? 'This token was not accepted. Check that you copied the whole token the gateway printed at start (or the value of ADMIN_TOKEN or ADMIN_VIEWER_TOKEN).'
          : `Could not sign in: ${(err as Error).message}`,
      );
      setBusy(false);
    }
  };

  return (
    <main class="signin">
      <h1>canary-gateway</h1>
      <p class="muted">Sign in with an admin token. An operator token can change the routing; a viewer token only reads.</p>
      {/* No name attribute: should the script fail to run, the browser has nothing to put in a URL. */}
      <form onSubmit={submit} noValidate>
        <label for="token">Admin token</label>
        <input
          id="token"
          type="password"
          autocomplete="off"
          spellcheck={false}
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
          aria-invalid={error !== null}
          aria-describedby={error !== null ? 'signin-error' : undefined}
          autofocus
        />
        {error !== null && (
          <p id="signin-error" class="error" role="alert">
            {error}
          </p>
        )}
        <button class="primary" type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

function useHashRoute(): string | null {
  const parse = (): string | null => {
    const match = /^#\/models\/([^/]+)$/.exec(location.hash);
    return match === null ? null : decodeURIComponent(match[1] as string);
  };
  const [model, setModel] = useState(parse);
  useEffect(() => {
    const onChange = (): void => setModel(parse());
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return model;
}

interface ConsoleProps {
  token: string;
  session: Session | null;
  onSession: (session: Session) => void;
  onSignOut: (message?: string | null) => void;
}

function Console({ token, session, onSession, onSignOut }: ConsoleProps) {
  const api = useMemo(() => new Api(token, () => onSignOut(EXPIRED)), [token]);
  const live = useLive(api, () => onSignOut(EXPIRED));
  const model = useHashRoute();
  const main = useRef<HTMLElement>(null);

  useEffect(() => {
    if (session === null) api.session().then(onSession, () => {});
  }, [api]);
  // A new page: move focus to it, as a page load would, for keyboard and screen reader users.
  const first = useRef(true);
  useEffect(() => {
    if (!first.current) main.current?.querySelector<HTMLElement>('h1')?.focus();
    first.current = false;
  }, [model]);

  // Until the role is known, show no controls.
  const canWrite = session?.role === 'operator';
  return (
    <>
      <header class="topbar">
        <a class="brand" href="#/">
          canary-gateway
        </a>
        <StreamState live={live} />
        <span class="who">
          {session === null ? '' : `${session.name} · ${session.role === 'operator' ? 'operator' : 'viewer (read-only)'}`}
        </span>
        <button type="button" onClick={() => onSignOut()}>
          Sign out
        </button>
      </header>
      {!live.storeAvailable && (
        <p class="banner warn" role="alert">
          The policy store is unreachable: routing goes on with the policies in force, changes are refused until it is back.
        </p>
      )}
      <main ref={main} id="main">
        {model === null ? <Overview live={live} /> : <ModelPage api={api} live={live} name={model} canWrite={canWrite} />}
      </main>
    </>
  );
}

function StreamState({ live }: { live: Live }) {
  const { status } = live;
  const [text, cls] =
    status.state === 'live'
      ? ['Live', 'ok']
      : status.state === 'retrying'
        ? [`Reconnecting (${status.reason})…`, 'warn']
        : ['Connecting…', 'muted'];
  return (
    <span class={`stream ${cls}`} role="status">
      <span class="dot" aria-hidden="true" />
      {text}
    </span>
  );
}
