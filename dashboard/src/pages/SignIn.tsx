import { useId, useState } from "react";
import { SluiceError } from "../../../client/errors.ts";
import { createApi } from "../api.ts";

interface SignInProps {
  /** Why the operator is here again, e.g. the token was rejected mid-session. */
  reason: string | null;
  onSignedIn: (token: string) => void;
}

/** Checks the token against the API before keeping it, so a typo is caught here, not later. */
export function SignIn({ reason, onSignedIn }: SignInProps) {
  const id = useId();
  const [token, setToken] = useState("");
  const [reveal, setReveal] = useState(false);
  const [checking, setChecking] = useState(false);
  const [problem, setProblem] = useState<string | null>(reason);

  async function signIn(event: React.FormEvent) {
    event.preventDefault();
    const candidate = token.trim();
    if (!candidate) {
      setProblem("Enter an API token.");
      return;
    }
    setChecking(true);
    setProblem(null);
    try {
      await createApi({ token: candidate }).listQueues();
      onSignedIn(candidate);
    } catch (error) {
      setProblem(describe(error));
    } finally {
      setChecking(false);
    }
  }

  return (
    <main className="sign-in" id="main">
      <form className="sign-in-card" onSubmit={signIn} noValidate>
        <div className="brand brand-large">
          <span className="brand-mark" aria-hidden="true" />
          Sluice
        </div>
        <h1 className="sign-in-title">Sign in</h1>
        <p className="muted">
          Use the admin token (<code>SLUICE_ADMIN_TOKEN</code>) or an API key's secret. It is kept
          in this tab only and forgotten when the tab closes.
        </p>
        <div className="field">
          <label htmlFor={`${id}-token`}>API token</label>
          <div className="input-with-button">
            <input
              id={`${id}-token`}
              name="token"
              type={reveal ? "text" : "password"}
              className="mono"
              autoComplete="off"
              spellCheck={false}
              value={token}
              aria-invalid={problem !== null}
              aria-describedby={problem ? `${id}-problem` : undefined}
              onChange={(e) => setToken(e.target.value)}
            />
            <button
              type="button"
              className="button"
              aria-pressed={reveal}
              onClick={() => setReveal((r) => !r)}
            >
              {reveal ? "Hide" : "Show"}
              <span className="visually-hidden"> token</span>
            </button>
          </div>
        </div>
        {problem ? (
          <p id={`${id}-problem`} className="notice notice-error" role="alert">
            {problem}
          </p>
        ) : null}
        <button type="submit" className="button button-primary button-block" disabled={checking}>
          {checking ? "Checking…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}

function describe(error: unknown): string {
  if (!(error instanceof SluiceError)) return String(error);
  if (error.status === 401) {
    return "That token was not accepted. Check it for typos or missing characters; a key's secret is shown only when the key is created.";
  }
  if (error.status === 403) {
    return "That token is valid but may not list queues. The dashboard needs a key with the admin scope.";
  }
  if (error.status === 0) {
    return `Could not reach Sluice. Check that the Worker is running and your network is up (${error.detail}).`;
  }
  return `Sign-in failed: ${error.title}${error.detail ? ` — ${error.detail}` : ""}`;
}
