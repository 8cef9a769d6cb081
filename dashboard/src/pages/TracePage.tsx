// One trace by its id (`/traces/:traceId?project=`): the waterfall and the trace's errors, so a
// trace can be shared or opened from an event list.

import { Link, useParams } from "react-router";
import { useQuery } from "urql";
import { useSession } from "../App";
import { TRACE } from "../api/queries";
import type { Trace } from "../api/types";
import { Empty, ErrorBox, Loading, NotAvailable } from "../components/states";
import { Waterfall } from "../components/Waterfall";

export function TracePage() {
  const { traceId = "" } = useParams();
  const { caps, projectId } = useSession();
  const [result, refetch] = useQuery<{ trace: Trace | null }>({
    query: TRACE,
    variables: { projectId, traceId },
    pause: !caps.traces || !projectId,
  });
  let body;
  if (!caps.traces) body = <NotAvailable what="Traces">This server's API has no spans yet.</NotAvailable>;
  else if (!projectId) body = <Empty>No project yet.</Empty>;
  else if (result.error) body = <ErrorBox error={result.error} retry={() => refetch({ requestPolicy: "network-only" })} />;
  else if (!result.data) body = <Loading what={`trace ${traceId}`} />;
  else if (!result.data.trace) body = <Empty>Nothing of trace {traceId} was received in this project.</Empty>;
  else body = <Waterfall trace={result.data.trace} />;
  return (
    <div className="page trace-page">
      <div className="breadcrumb">
        <Link to="/services">Service map</Link> / trace
      </div>
      <h1>
        Trace <code>{traceId}</code>
      </h1>
      {body}
    </div>
  );
}
