// Projects: create one, see its DSN and how to give it to a Sentry SDK.

import { useState } from "react";
import { Link } from "react-router";
import { useMutation } from "urql";
import { useSession } from "../App";
import { CREATE_PROJECT } from "../api/queries";
import type { Project } from "../api/types";
import { Empty, ErrorBox, NotAvailable } from "../components/states";
import { absoluteTime } from "../format";

function snippets(dsn: string): { label: string; code: string }[] {
  return [
    {
      label: "Python",
      code: `# pip install sentry-sdk\nimport sentry_sdk\nsentry_sdk.init(dsn="${dsn}", release="my-app@1.0.0", environment="production")`,
    },
    {
      label: "Node.js",
      code: `// npm install @sentry/node\nconst Sentry = require("@sentry/node");\nSentry.init({ dsn: "${dsn}", release: "my-app@1.0.0", environment: "production" });`,
    },
    {
      label: "Browser",
      code: `// npm install @sentry/browser\nimport * as Sentry from "@sentry/browser";\nSentry.init({ dsn: "${dsn}", release: "my-app@1.0.0" });`,
    },
    {
      label: "Rust",
      code: `// sentry = "0.46"\nlet _guard = sentry::init(("${dsn}", sentry::ClientOptions {\n    release: sentry::release_name!(),\n    ..Default::default()\n}));`,
    },
    {
      label: "curl",
      code: `curl -X POST "${dsnToNativeUrl(dsn)}" -H 'content-type: application/json' \\\n  -d '{"exception": {"values": [{"type": "ValueError", "value": "it works"}]}}'`,
    },
  ];
}

/** http://KEY@host/ID → http://host/api/ID/events?sentry_key=KEY (the native JSON endpoint). */
function dsnToNativeUrl(dsn: string): string {
  try {
    const url = new URL(dsn);
    const key = url.username;
    const project = url.pathname.replace(/^\//, "");
    return `${url.protocol}//${url.host}/api/${project}/events?sentry_key=${key}`;
  } catch {
    return dsn;
  }
}

export function ProjectsPage() {
  const { projects, caps, refetchProjects } = useSession();
  const [name, setName] = useState("");
  const [created, createProject] = useMutation<{ createProject: Project }>(CREATE_PROJECT);
  return (
    <div className="page projects-page">
      <h1>Projects</h1>
      {caps.createProject ? (
        <form
          className="row"
          onSubmit={async (e) => {
            e.preventDefault();
            const answer = await createProject({ name: name.trim() });
            if (!answer.error) {
              setName("");
              refetchProjects();
            }
          }}
        >
          <input placeholder="new project name" value={name} onChange={(e) => setName(e.target.value)} aria-label="Project name" />
          <button className="btn btn-primary" disabled={!name.trim() || created.fetching}>
            Create project
          </button>
        </form>
      ) : (
        <NotAvailable what="Creating a project from the dashboard">
          Create one on the server with <code>stackhouse project create NAME</code>.
        </NotAvailable>
      )}
      {created.error && <ErrorBox error={created.error} />}
      {projects.length === 0 ? (
        <Empty>No project yet.</Empty>
      ) : (
        projects.map((project) => <ProjectCard key={project.id} project={project} highlight={created.data?.createProject.id === project.id} />)
      )}
    </div>
  );
}

function ProjectCard({ project, highlight }: { project: Project; highlight: boolean }) {
  const dsn = project.dsns[0];
  const [lang, setLang] = useState(0);
  const all = dsn ? snippets(dsn) : [];
  return (
    <div className={`card ${highlight ? "card-new" : ""}`} data-testid="project">
      <div className="card-head">
        <h2>
          {project.name} <span className="muted">#{project.id}</span>
        </h2>
        <span className="muted small">created {absoluteTime(project.createdAt)}</span>
        <Link to={`/issues?project=${project.id}`}>issues →</Link>
      </div>
      {dsn ? (
        <>
          <div className="dsn">
            DSN <code data-testid="dsn">{dsn}</code>
            <button className="btn btn-small" onClick={() => navigator.clipboard?.writeText(dsn)}>
              copy
            </button>
          </div>
          <div className="tabs">
            {all.map((s, i) => (
              <button key={s.label} className={`tab ${i === lang ? "tab-on" : ""}`} onClick={() => setLang(i)}>
                {s.label}
              </button>
            ))}
          </div>
          <pre className="snippet">{all[lang].code}</pre>
        </>
      ) : (
        <p className="muted">This project has no active key.</p>
      )}
    </div>
  );
}
