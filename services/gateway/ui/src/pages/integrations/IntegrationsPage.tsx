import { useState } from "react";
import { Button } from "react-aria-components";
import { Link } from "react-router";
import { api, call, errorMessage } from "../../api/client";
import { useClock, useSession } from "../../app/session";
import { Alert } from "../../components/Alert";
import { Loading } from "../../components/Loading";
import { Page } from "../../components/Page";
import { useLoad } from "../../lib/useLoad";
import {
  Budget,
  ConnectionForm,
  ErrorAlert,
  operationOutcome,
  policyText,
  RefreshProgress,
  StateBadge,
  useOperation,
  type Integration,
  type Kind,
} from "./common";
import "./integrations.css";

/**
 * IntegrationsPage lists the tools Orgplane can connect (/integrations): for each, connect it,
 * or see the connection's state, budget and last refresh, test it, edit it and refresh it.
 */
export default function IntegrationsPage() {
  const { accountId } = useSession();
  const data = useLoad(
    async (signal) => {
      const path = { params: { path: { accountId }, query: { pageSize: 1000 } }, signal };
      const [kinds, integrations] = await Promise.all([
        call(api.GET("/v1/accounts/{accountId}/integrationKinds", path)),
        call(api.GET("/v1/accounts/{accountId}/integrations", path)),
      ]);
      return { kinds: kinds.kinds ?? [], integrations: integrations.integrations ?? [] };
    },
    [accountId],
  );

  let body;
  if (data.loading && !data.data) {
    body = <Loading label="Loading integrations" />;
  } else if (data.error && !data.data) {
    body = <ErrorAlert error={data.error} />;
  } else {
    const { kinds, integrations } = data.data!;
    const replace = (i: Integration) =>
      data.setData({ kinds, integrations: integrations.some((x) => x.id === i.id) ? integrations.map((x) => (x.id === i.id ? i : x)) : [...integrations, i] });
    body = (
      <div className="integrations-list">
        {kinds.map((k) => (
          <KindCard key={k.name} kind={k} integration={integrations.find((i) => i.kind === k.name)} onChange={replace} reload={data.reload} />
        ))}
      </div>
    );
  }
  return (
    <Page title="Integrations">
      <p className="muted">
        Connect the tools your clients live in. Orgplane keeps a copy of each tool's organization list, refreshes it, and tells you when an
        organization disappears from the tool.
      </p>
      {body}
    </Page>
  );
}

function KindCard({ kind, integration, onChange, reload }: { kind: Kind; integration?: Integration; onChange: (i: Integration) => void; reload: () => void }) {
  const { accountId, can } = useSession();
  const clock = useClock();
  const writer = can("integrations:write");
  const [mode, setMode] = useState<"view" | "form">("view");
  const [notice, setNotice] = useState<{ tone: "success" | "error" | "info"; text: string }>();
  const [refreshNotice, setRefreshNotice] = useState<{ tone: "success" | "error" | "info"; text: string }>();
  const [testing, setTesting] = useState(false);
  const [starting, setStarting] = useState(false);
  const [operationId, setOperationId] = useState<string>();
  const titleId = `integration-${kind.name}-title`;
  const name = integration?.displayName || kind.title || "";
  const running = operationId ?? integration?.runningOperationId;
  const refresh = useOperation(running || undefined, (op) => {
    setRefreshNotice(operationOutcome(op, name));
    setOperationId(undefined);
    reload();
  });

  const test = async () => {
    setTesting(true);
    setNotice(undefined);
    try {
      const r = await call(
        api.POST("/v1/accounts/{accountId}/integrations/{integrationId}:test", { params: { path: { accountId, integrationId: integration?.id ?? "" } }, body: {} }),
      );
      if (r.integration) onChange(r.integration);
      setNotice(r.ok ? { tone: "success", text: `${name} accepted the connection.` } : { tone: "error", text: `The test failed: ${r.message || "no reason given"}` });
    } catch (e) {
      setNotice({ tone: "error", text: errorMessage(e) });
    } finally {
      setTesting(false);
    }
  };

  const startRefresh = async () => {
    setStarting(true);
    setRefreshNotice(undefined);
    try {
      const op = await call(
        api.POST("/v1/accounts/{accountId}/integrations/{integrationId}:refresh", {
          params: { path: { accountId, integrationId: integration?.id ?? "" } },
          body: { mode: "REFRESH_MODE_FULL" },
        }),
      );
      setOperationId(op.id);
    } catch (e) {
      setRefreshNotice({ tone: "error", text: errorMessage(e) });
    } finally {
      setStarting(false);
    }
  };

  return (
    <section className="card integrations-card" aria-labelledby={titleId}>
      <div className="integrations-card-header">
        <h2 id={titleId}>{kind.title}</h2>
        {kind.psa && <span className="tag">PSA</span>}
        {integration && <StateBadge integration={integration} />}
      </div>
      {mode === "form" ? (
        <ConnectionForm
          kind={kind}
          integration={integration}
          onCancel={() => setMode("view")}
          onDone={(i) => {
            onChange(i);
            setMode("view");
            setNotice({ tone: "success", text: integration ? `${i.displayName || kind.title} is saved. Test the connection to check it.` : `${i.displayName || kind.title} is connected. Test the connection to check the credentials.` });
          }}
        />
      ) : !integration ? (
        <>
          <p className="muted">Not connected. Vendor limit: {policyText(kind.defaultBudget)}.</p>
          {notice && <Alert tone={notice.tone}>{notice.text}</Alert>}
          {writer && (
            <Button className="button primary" onPress={() => setMode("form")}>
              Connect {kind.title}
            </Button>
          )}
        </>
      ) : (
        <>
          {integration.state === "INTEGRATION_STATE_CREDENTIALS_REJECTED" && (
            <Alert tone="error">
              {kind.title} refused the credentials{integration.stateMessage ? `: ${integration.stateMessage}` : "."} Refreshes wait until the credentials are
              updated or a test succeeds.
            </Alert>
          )}
          <dl className="details integrations-details">
            <dt>Name</dt>
            <dd>{name}</dd>
            <dt>Last refresh</dt>
            <dd>
              {integration.lastRefreshTime ? clock.dateTime(integration.lastRefreshTime) : "Never"}
              {integration.lastFullRefreshTime && <span className="muted"> (full: {clock.dateTime(integration.lastFullRefreshTime)})</span>}
            </dd>
            <dt>Organizations</dt>
            <dd>
              {(integration.externalOrganizationCount ?? 0).toLocaleString("en-US")} cached
              {(integration.orphanCount ?? 0) > 0 && <>, {(integration.orphanCount ?? 0).toLocaleString("en-US")} orphaned</>}
            </dd>
            <dt>Rate budget</dt>
            <dd>
              <Budget integration={integration} />
            </dd>
          </dl>
          {running && <RefreshProgress op={refresh.op} name={name} />}
          <ErrorAlert error={refresh.error} />
          {refreshNotice && <Alert tone={refreshNotice.tone}>{refreshNotice.text}</Alert>}
          {notice && <Alert tone={notice.tone}>{notice.text}</Alert>}
          <div className="integrations-actions">
            {writer && (
              <>
                <Button className="button secondary" onPress={() => void test()} isPending={testing} aria-label={`Test the connection to ${name}`}>
                  Test connection
                </Button>
                <Button
                  className="button secondary"
                  onPress={() => void startRefresh()}
                  isPending={starting}
                  isDisabled={Boolean(running) || integration.paused}
                  aria-label={`Refresh ${name}`}
                >
                  Refresh
                </Button>
                <Button className="button secondary" onPress={() => setMode("form")} aria-label={`Edit ${name}`}>
                  Edit
                </Button>
              </>
            )}
            <Link className="button secondary" to={`/integrations/${integration.id}`} aria-label={`Settings and data of ${name}`}>
              {kind.psa ? "Sync settings and data" : "Manage data"}
            </Link>
          </div>
        </>
      )}
    </section>
  );
}
