import { Link, useParams } from "react-router";
import { api, call } from "../../api/client";
import { useClock, useSession } from "../../app/session";
import { Loading } from "../../components/Loading";
import { Page } from "../../components/Page";
import { useLoad } from "../../lib/useLoad";
import { Budget, ErrorAlert, StateBadge, type Integration } from "./common";
import { DisconnectSection } from "./DisconnectSection";
import { OrphansSection } from "./OrphansSection";
import { SyncLogSection } from "./SyncLogSection";
import { SyncSettingsSection } from "./SyncSettingsSection";
import "./integrations.css";

/**
 * IntegrationPage is one integration (/integrations/:integrationId): a PSA's sync settings with
 * the scope preview and its sync log, recent refreshes, and Manage Data: the orphans and the
 * ways to disconnect.
 */
export default function IntegrationPage() {
  const { accountId } = useSession();
  const integrationId = useParams().integrationId ?? "";
  const data = useLoad(
    async (signal) => {
      const [integration, kinds] = await Promise.all([
        call(api.GET("/v1/accounts/{accountId}/integrations/{integrationId}", { params: { path: { accountId, integrationId } }, signal })),
        call(api.GET("/v1/accounts/{accountId}/integrationKinds", { params: { path: { accountId }, query: { pageSize: 1000 } }, signal })),
      ]);
      return { integration, kind: (kinds.kinds ?? []).find((k) => k.name === integration.kind) };
    },
    [accountId, integrationId],
  );

  if (data.loading && !data.data) {
    return (
      <Page title="Integration">
        <Loading label="Loading the integration" />
      </Page>
    );
  }
  if (!data.data) {
    return (
      <Page title="Integration">
        <ErrorAlert error={data.error} />
        <p>
          <Link to="/integrations">Back to Integrations</Link>
        </p>
      </Page>
    );
  }
  const { integration, kind } = data.data;
  const title = integration.displayName || kind?.title || "Integration";
  return (
    <Page title={title} actions={<Link to="/integrations">All integrations</Link>}>
      <Summary integration={integration} />
      {kind?.psa && <SyncSettingsSection integration={integration} onSaved={data.reload} />}
      {kind?.psa && <SyncLogSection integration={integration} />}
      <OperationsSection integration={integration} />
      <h2 className="integrations-manage-title">Manage Data</h2>
      <OrphansSection integration={integration} onChange={data.reload} />
      <DisconnectSection integration={integration} onChange={data.reload} />
    </Page>
  );
}

function Summary({ integration }: { integration: Integration }) {
  const clock = useClock();
  return (
    <section className="section" aria-labelledby="integration-summary-title">
      <h2 id="integration-summary-title" className="visually-hidden">
        Summary
      </h2>
      <dl className="details integrations-details">
        <dt>State</dt>
        <dd>
          <StateBadge integration={integration} />
          {integration.stateMessage && <span className="muted"> {integration.stateMessage}</span>}
        </dd>
        <dt>Last refresh</dt>
        <dd>{integration.lastRefreshTime ? clock.dateTime(integration.lastRefreshTime) : "Never"}</dd>
        <dt>Organizations</dt>
        <dd>
          {(integration.externalOrganizationCount ?? 0).toLocaleString("en-US")} cached, {(integration.orphanCount ?? 0).toLocaleString("en-US")} orphaned
        </dd>
        <dt>Rate budget</dt>
        <dd>
          <Budget integration={integration} />
        </dd>
      </dl>
    </section>
  );
}

const opStates: Record<string, string> = {
  OPERATION_STATE_RUNNING: "Running",
  OPERATION_STATE_SUCCEEDED: "Succeeded",
  OPERATION_STATE_FAILED: "Failed",
  OPERATION_STATE_CANCELLED: "Cancelled",
};

/** OperationsSection lists the integration's latest refreshes. */
function OperationsSection({ integration }: { integration: Integration }) {
  const { accountId } = useSession();
  const clock = useClock();
  const ops = useLoad(
    (signal) =>
      call(
        api.GET("/v1/accounts/{accountId}/operations", {
          params: { path: { accountId }, query: { integrationId: integration.id, pageSize: 10 } },
          signal,
        }),
      ),
    [accountId, integration.id, integration.lastRefreshTime, integration.runningOperationId],
  );
  let body;
  if (ops.loading && !ops.data) body = <Loading label="Loading refreshes" />;
  else if (ops.error) body = <ErrorAlert error={ops.error} />;
  else if (!ops.data?.operations?.length) body = <p className="muted">No refresh has run yet.</p>;
  else
    body = (
      <div className="table-wrap">
        <table className="table">
          <caption className="visually-hidden">The latest refreshes, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Started</th>
              <th scope="col">Kind</th>
              <th scope="col">State</th>
              <th scope="col">Read</th>
              <th scope="col">Outcome</th>
              <th scope="col">Started by</th>
            </tr>
          </thead>
          <tbody>
            {ops.data.operations.map((op) => (
              <tr key={op.id}>
                <td>{clock.dateTime(op.createTime)}</td>
                <td>{op.type === "refresh" || !op.type ? (op.mode === "REFRESH_MODE_INCREMENTAL" ? "Incremental refresh" : "Full refresh") : op.type}</td>
                <td>{opStates[op.state ?? ""] ?? "—"}</td>
                <td>{(op.progress?.itemsDone ?? 0).toLocaleString("en-US")}</td>
                <td>
                  {op.state === "OPERATION_STATE_FAILED"
                    ? op.error?.message || op.error?.reason
                    : `${op.result?.created ?? 0} new, ${op.result?.changed ?? 0} changed, ${op.result?.orphaned ?? 0} orphaned`}
                </td>
                <td>{op.createdBy || "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    );
  return (
    <section className="section" aria-labelledby="integration-operations-title">
      <h2 id="integration-operations-title">Refreshes</h2>
      {body}
    </section>
  );
}
