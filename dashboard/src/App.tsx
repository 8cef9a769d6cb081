// The shell: token, GraphQL client, what the server can do, the project picker, the routes.

import { createContext, useContext, useEffect, useMemo, useState } from "react";
import { NavLink, Navigate, Route, Routes, useNavigate, useSearchParams } from "react-router";
import { Provider, useQuery } from "urql";
import { describeError, makeClient, readCapabilities, type Capabilities } from "./api/client";
import { storedToken, storeToken } from "./api/auth";
import { CAPABILITIES, PROJECTS } from "./api/queries";
import type { Project } from "./api/types";
import { ErrorBox, Loading } from "./components/states";
import { IssuesPage } from "./pages/IssuesPage";
import { IssuePage } from "./pages/IssuePage";
import { SqlPage } from "./pages/SqlPage";
import { ProjectsPage } from "./pages/ProjectsPage";
import { AlertsPage } from "./pages/AlertsPage";
import { ServiceMapPage } from "./pages/ServiceMapPage";
import { TracePage } from "./pages/TracePage";
import { SignInPage } from "./pages/SignInPage";

export interface Session {
  token: string | null;
  setToken: (token: string | null) => void;
  caps: Capabilities;
  projects: Project[];
  refetchProjects: () => void;
  /** The project the pages show: `?project=` in the URL, else the last one used, else the first. */
  projectId: string | null;
}

const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside the app");
  return session;
}

const PROJECT_KEY = "stackhouse.project";

export function App() {
  const [token, setTokenState] = useState<string | null>(storedToken());
  const client = useMemo(() => makeClient(token), [token]);
  const setToken = (next: string | null) => {
    storeToken(next);
    setTokenState(next);
  };
  return (
    <Provider value={client}>
      <Routes>
        <Route path="/signin" element={<SignInPage token={token} setToken={setToken} />} />
        <Route path="*" element={<Shell token={token} setToken={setToken} />} />
      </Routes>
    </Provider>
  );
}

function Shell({ token, setToken }: { token: string | null; setToken: (t: string | null) => void }) {
  const [capsResult] = useQuery({ query: CAPABILITIES, requestPolicy: "cache-first" });
  const [projectsResult, refetchProjects] = useQuery<{ projects: Project[] }>({ query: PROJECTS });
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();

  const caps = useMemo(() => (capsResult.data ? readCapabilities(capsResult.data) : null), [capsResult.data]);
  const projects = projectsResult.data?.projects ?? [];
  const remembered = localStorage.getItem(PROJECT_KEY);
  const projectId =
    params.get("project") ??
    (projects.some((p) => p.id === remembered) ? remembered : null) ??
    projects[0]?.id ??
    null;
  useEffect(() => {
    if (projectId) localStorage.setItem(PROJECT_KEY, projectId);
  }, [projectId]);

  const error = capsResult.error ?? projectsResult.error;
  let body;
  if (error && describeError(error).unauthenticated) {
    // No token, or a revoked one: the sign-in page says which.
    return <Navigate to="/signin" replace />;
  } else if (error) {
    body = <ErrorBox error={error} retry={() => refetchProjects({ requestPolicy: "network-only" })} />;
  } else if (!caps || !projectsResult.data) {
    body = <Loading what="the server's API" />;
  } else {
    const session: Session = {
      token,
      setToken,
      caps,
      projects,
      refetchProjects: () => refetchProjects({ requestPolicy: "network-only" }),
      projectId,
    };
    body = (
      <SessionContext.Provider value={session}>
        <Routes>
          <Route path="/" element={<Navigate to="/issues" replace />} />
          <Route path="/issues" element={<IssuesPage />} />
          <Route path="/issues/:issueId" element={<IssuePage />} />
          {/* Not /sql: that path is the API's (POST /sql). */}
          <Route path="/query" element={<SqlPage />} />
          <Route path="/projects" element={<ProjectsPage />} />
          <Route path="/alerts" element={<AlertsPage />} />
          <Route path="/services" element={<ServiceMapPage />} />
          <Route path="/traces/:traceId" element={<TracePage />} />
          <Route path="*" element={<div className="state state-empty">No such page. <NavLink to="/issues">Issues</NavLink></div>} />
        </Routes>
      </SessionContext.Provider>
    );
  }

  return (
    <div className="app">
      <header className="topbar">
        <NavLink to="/issues" className="brand">
          <img src="/favicon.svg" width={16} height={16} alt="" /> Stackhouse
        </NavLink>
        <nav>
          <NavLink to={{ pathname: "/issues", search: projectId ? `?project=${projectId}` : "" }}>Issues</NavLink>
          <NavLink to="/query">SQL</NavLink>
          <NavLink to="/alerts">Alerts</NavLink>
          <NavLink to="/services">Service map</NavLink>
          <NavLink to="/projects">Projects</NavLink>
        </nav>
        <div className="topbar-right">
          {projects.length > 0 && (
            <label className="project-picker">
              Project{" "}
              <select
                aria-label="Project"
                value={projectId ?? ""}
                onChange={(e) => {
                  localStorage.setItem(PROJECT_KEY, e.target.value);
                  if (location.pathname.startsWith("/issues/")) {
                    navigate(`/issues?project=${e.target.value}`);
                  } else {
                    const next = new URLSearchParams(params);
                    next.set("project", e.target.value);
                    next.delete("cursor");
                    setParams(next);
                  }
                }}
              >
                {projects.map((p) => (
                  <option key={p.id} value={p.id}>
                    {p.name} (#{p.id})
                  </option>
                ))}
              </select>
            </label>
          )}
          <NavLink to="/signin" className="signin-link">
            {token ? "Token ✓" : "Sign in"}
          </NavLink>
        </div>
      </header>
      <main>{body}</main>
    </div>
  );
}
