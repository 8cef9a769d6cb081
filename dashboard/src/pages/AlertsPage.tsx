// Alerts. Alert rules come with a later issue: until the server's API has them this page says
// so plainly rather than showing an editor that cannot save.

import { Link } from "react-router";
import { useSession } from "../App";
import { NotAvailable } from "../components/states";

export function AlertsPage() {
  const { caps } = useSession();
  return (
    <div className="page alerts-page">
      <h1>Alerts</h1>
      {caps.alerts ? (
        <NotAvailable what="The alert rule editor">
          This server's API has alert fields, but this dashboard build does not know them yet: update the dashboard.
        </NotAvailable>
      ) : (
        <NotAvailable what="Alerting">
          This server's API has no alert rules yet, so there is nothing to list or edit. Until then, watch for
          regressions on the <Link to="/issues?status=REGRESSED">issue list</Link> or query the data in the{" "}
          <Link to="/query">SQL console</Link>.
        </NotAvailable>
      )}
    </div>
  );
}
