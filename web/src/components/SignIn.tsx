import { useState } from 'preact/hooks';
import { Unauthorized, verifyKey } from '../api';

/** The key is checked against the API before it is kept, for this browser session only. */
export function SignIn({ onSignedIn, notice }: { onSignedIn: (key: string) => void; notice?: string }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | undefined>(notice);
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    const trimmed = key.trim();
    if (!trimmed) {
      setError('Enter the API key of an admin or analyst.');
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      await verifyKey(trimmed);
      onSignedIn(trimmed);
    } catch (err) {
      setError(err instanceof Unauthorized ? 'That API key was not accepted.' : `Could not sign in: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="signin">
      <form class="signin-card" onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Balances</h1>
        <p class="muted">Flex tokens and shared cloud credits of your account, live.</p>
        <label for="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autocomplete="off"
          spellcheck={false}
          value={key}
          onInput={(e) => setKey((e.currentTarget as HTMLInputElement).value)}
          aria-describedby={error ? 'signin-error signin-hint' : 'signin-hint'}
          aria-invalid={error ? true : undefined}
          required
        />
        <p id="signin-hint" class="hint">
          Kept in this browser tab until you sign out or close it.
        </p>
        {error && (
          <p id="signin-error" role="alert" class="error">
            {error}
          </p>
        )}
        <button type="submit" class="button button-primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
