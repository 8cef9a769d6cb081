// Loading, empty and error states, the same on every page.

import type { ReactNode } from "react";
import { Link } from "react-router";
import { describeError } from "../api/client";

export function Loading({ what }: { what: string }) {
  return (
    <div className="state state-loading" role="status">
      <span className="spinner" aria-hidden /> Loading {what}…
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="state state-empty">{children}</div>;
}

export function ErrorBox({ error, retry }: { error: unknown; retry?: () => void }) {
  const { message, unauthenticated } = describeError(error);
  return (
    <div className="state state-error" role="alert">
      <strong>Something went wrong.</strong> {message}
      {unauthenticated && (
        <>
          {" "}
          <Link to="/signin">Sign in with an API token</Link>.
        </>
      )}
      {retry && (
        <button type="button" className="btn btn-small" onClick={retry}>
          Retry
        </button>
      )}
    </div>
  );
}

export function NotAvailable({ what, children }: { what: string; children?: ReactNode }) {
  return (
    <div className="state state-unavailable">
      <strong>{what} is not available on this server yet.</strong> {children}
    </div>
  );
}
