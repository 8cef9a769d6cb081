// Sign-in: paste an API token (`stackhouse token create`); it is checked against the server,
// then kept in this browser. A server started with `--dev` answers local requests without one.

import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { authHeaders } from "../api/auth";

async function check(token: string | null): Promise<string | null> {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...authHeaders(token) },
    body: JSON.stringify({ query: "{ __typename }" }),
  });
  if (response.ok) return null;
  const body = await response.json().catch(() => null);
  return body?.detail ?? `the server answered HTTP ${response.status}`;
}

export function SignInPage({ token, setToken }: { token: string | null; setToken: (t: string | null) => void }) {
  const [value, setValue] = useState(token ?? "");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const navigate = useNavigate();

  const submit = async (event: FormEvent, candidate: string | null) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const problem = await check(candidate);
      if (problem) {
        setError(candidate ? `This token was refused: ${problem}.` : `This server needs a token: ${problem}.`);
        return;
      }
      setToken(candidate);
      navigate("/issues");
    } catch (e) {
      setError(`Cannot reach the server: ${(e as Error).message}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="signin">
      <h1>Sign in to Stackhouse</h1>
      <form onSubmit={(e) => submit(e, value.trim() || null)}>
        <label>
          API token
          <input
            type="password"
            autoFocus
            value={value}
            placeholder="sh_…"
            onChange={(e) => setValue(e.target.value)}
            autoComplete="off"
          />
        </label>
        <p className="hint">
          Create one on the server with <code>stackhouse token create</code>. It is kept in this browser only.
        </p>
        {error && (
          <div className="state state-error" role="alert">
            {error}
          </div>
        )}
        <div className="row">
          <button className="btn btn-primary" disabled={busy || !value.trim()}>
            Sign in
          </button>
          <button type="button" className="btn" disabled={busy} onClick={(e) => submit(e, null)}>
            Continue without a token (dev mode)
          </button>
          {token && (
            <button type="button" className="btn" onClick={() => { setToken(null); setValue(""); }}>
              Sign out
            </button>
          )}
        </div>
      </form>
    </div>
  );
}
