import { useEffect, useState } from "react";
import { Button } from "react-aria-components";
import { api, call, type Schemas } from "../../api/client";
import { useClock, useSession } from "../../app/session";
import { Loading } from "../../components/Loading";
import { ErrorAlert, type Integration } from "./common";

type Entry = Schemas["v1SyncLogEntry"];

const pageSize = 50;
const actions = ["created", "updated", "deactivated", "reactivated", "linked", "conflict", "error", "waiting"];
const sides: Record<string, string> = { SYNC_SIDE_TO_PSA: "Orgplane → PSA", SYNC_SIDE_FROM_PSA: "PSA → Orgplane" };

/** SyncLogSection is a PSA integration's sync log, newest first, a page at a time. */
export function SyncLogSection({ integration }: { integration: Integration }) {
  const { accountId } = useSession();
  const clock = useClock();
  const integrationId = integration.id ?? "";
  const [action, setAction] = useState("");
  const [entries, setEntries] = useState<Entry[]>();
  const [next, setNext] = useState("");
  const [error, setError] = useState<unknown>();
  const [loadingMore, setLoadingMore] = useState(false);

  const load = (token: string, signal?: AbortSignal) =>
    call(
      api.GET("/v1/accounts/{accountId}/integrations/{integrationId}/syncLog", {
        params: { path: { accountId, integrationId }, query: { pageSize, pageToken: token || undefined, action: action || undefined } },
        signal,
      }),
    );

  useEffect(() => {
    const ctrl = new AbortController();
    setEntries(undefined);
    setError(undefined);
    load("", ctrl.signal).then(
      (r) => {
        setEntries(r.entries ?? []);
        setNext(r.nextPageToken ?? "");
      },
      (e: unknown) => {
        if (!ctrl.signal.aborted) setError(e);
      },
    );
    return () => ctrl.abort();
  }, [accountId, integrationId, action, integration.lastRefreshTime]);

  const more = async () => {
    setLoadingMore(true);
    try {
      const r = await load(next);
      setEntries((e) => [...(e ?? []), ...(r.entries ?? [])]);
      setNext(r.nextPageToken ?? "");
    } catch (e) {
      setError(e);
    } finally {
      setLoadingMore(false);
    }
  };

  let body;
  if (error && !entries) body = <ErrorAlert error={error} />;
  else if (!entries) body = <Loading label="Loading the sync log" />;
  else if (entries.length === 0) body = <p className="muted">{action ? `No "${action}" entries.` : "Nothing has synced yet."}</p>;
  else
    body = (
      <>
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">The sync log, newest first</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Direction</th>
                <th scope="col">What</th>
                <th scope="col">Company</th>
                <th scope="col">Fields</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => (
                <tr key={e.id}>
                  <td>{clock.dateTime(e.time)}</td>
                  <td>{sides[e.side ?? ""] ?? "—"}</td>
                  <td>{e.action}</td>
                  <td>{e.externalId ? `#${e.externalId}` : "—"}</td>
                  <td>{e.fields?.join(", ") || "—"}</td>
                  <td>{e.message || "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {error ? <ErrorAlert error={error} /> : null}
        {next && (
          <Button className="button secondary" onPress={() => void more()} isPending={loadingMore}>
            Show older entries
          </Button>
        )}
      </>
    );

  return (
    <section className="section" aria-labelledby="integration-log-title">
      <div className="section-header">
        <h2 id="integration-log-title">Sync log</h2>
        <div className="field integrations-filter">
          <label htmlFor="integration-log-action">Show</label>
          <select id="integration-log-action" value={action} onChange={(e) => setAction(e.target.value)}>
            <option value="">Every entry</option>
            {actions.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </div>
      </div>
      {body}
    </section>
  );
}
