import { useEffect, useState } from "react";
import { Button } from "react-aria-components";
import { api, call, type Schemas } from "../../api/client";
import { useClock, useSession } from "../../app/session";
import { Alert } from "../../components/Alert";
import { ConfirmButton } from "../../components/ConfirmButton";
import { EmptyState } from "../../components/EmptyState";
import { CheckboxField } from "../../components/forms";
import { Loading } from "../../components/Loading";
import { ErrorAlert, type Integration } from "./common";

type Orphan = Schemas["v1ExternalOrganization"];
type Result = Schemas["v1OrphanResult"];
type Action = "ORPHAN_ACTION_UNLINK" | "ORPHAN_ACTION_DELETE_ORGANIZATION" | "ORPHAN_ACTION_DISMISS";

const pageSize = 100;

const doneText: Record<Action, string> = {
  ORPHAN_ACTION_UNLINK: "Unlinked; the organization stays",
  ORPHAN_ACTION_DELETE_ORGANIZATION: "Organization deleted",
  ORPHAN_ACTION_DISMISS: "Dismissed",
};

/**
 * OrphansSection lists the integration's orphans (organizations gone from the tool, flagged
 * deleted there, or out of the sync scope) and resolves the selected ones, each with its own
 * result.
 */
export function OrphansSection({ integration, onChange }: { integration: Integration; onChange: () => void }) {
  const { accountId, can } = useSession();
  const clock = useClock();
  const writer = can("integrations:write");
  const integrationId = integration.id ?? "";
  const [orphans, setOrphans] = useState<Orphan[]>();
  const [total, setTotal] = useState(0);
  const [next, setNext] = useState("");
  const [error, setError] = useState<unknown>();
  const [loadingMore, setLoadingMore] = useState(false);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [results, setResults] = useState<{ action: Action; byId: Map<string, Result> }>();
  const [round, setRound] = useState(0);

  const load = async (token: string, signal?: AbortSignal) => {
    const r = await call(
      api.GET("/v1/accounts/{accountId}/integrations/{integrationId}/externalOrganizations", {
        params: { path: { accountId, integrationId }, query: { state: "EXTERNAL_ORGANIZATION_STATE_ORPHANED", pageSize, pageToken: token || undefined } },
        signal,
      }),
    );
    return { list: r.externalOrganizations ?? [], next: r.nextPageToken ?? "", total: Number(r.totalSize ?? 0) };
  };

  useEffect(() => {
    const ctrl = new AbortController();
    setError(undefined);
    load("", ctrl.signal).then(
      (r) => {
        setOrphans(r.list);
        setNext(r.next);
        setTotal(r.total);
        setSelected(new Set());
      },
      (e: unknown) => {
        if (!ctrl.signal.aborted) setError(e);
      },
    );
    return () => ctrl.abort();
    // integration.orphanCount changes after a refresh finds new orphans.
  }, [accountId, integrationId, integration.orphanCount, round]);

  const more = async () => {
    setLoadingMore(true);
    try {
      const r = await load(next);
      setOrphans((o) => [...(o ?? []), ...r.list]);
      setNext(r.next);
    } catch (e) {
      setError(e);
    } finally {
      setLoadingMore(false);
    }
  };

  const resolve = async (action: Action) => {
    const refs = [...selected].map((externalId) => ({ integrationId, externalId }));
    const r = await call(api.POST("/v1/accounts/{accountId}/orphans:resolve", { params: { path: { accountId } }, body: { action, orphans: refs } }));
    const byId = new Map((r.results ?? []).map((x) => [x.externalId ?? "", x]));
    setResults({ action, byId });
    // The resolved ones leave the list; the failed ones stay selected, with their reason.
    setOrphans((o) => (o ?? []).filter((x) => !byId.get(x.externalId ?? "")?.ok));
    setSelected(new Set([...selected].filter((id) => !byId.get(id)?.ok)));
    onChange();
  };

  const toggle = (id: string, on: boolean) =>
    setSelected((s) => {
      const n = new Set(s);
      if (on) n.add(id);
      else n.delete(id);
      return n;
    });

  let body;
  if (error && !orphans) {
    body = <ErrorAlert error={error} />;
  } else if (!orphans) {
    body = <Loading label="Loading orphans" />;
  } else if (orphans.length === 0) {
    body = (
      <EmptyState title="No orphans">
        <p>Every organization this integration knows is still in the tool.</p>
        {results && <ResultSummary action={results.action} results={[...results.byId.values()]} />}
      </EmptyState>
    );
  } else {
    const allSelected = orphans.every((o) => selected.has(o.externalId ?? ""));
    const linkedSelected = orphans.filter((o) => selected.has(o.externalId ?? "") && o.organizationId).length;
    body = (
      <>
        <p className="muted">
          {total.toLocaleString("en-US")} {total === 1 ? "orphan" : "orphans"}.
          {writer && " Select some, then choose what to do with them."}
        </p>
        {results && <ResultSummary action={results.action} results={[...results.byId.values()]} />}
        {error ? <ErrorAlert error={error} /> : null}
        <div className="table-wrap">
          <table className="table integrations-orphans">
            <caption className="visually-hidden">Orphaned organizations, newest first</caption>
            <thead>
              <tr>
                {writer && (
                  <th scope="col" className="integrations-select">
                    <CheckboxField
                      aria-label="Select every orphan shown"
                      isSelected={allSelected}
                      onChange={(on) => setSelected(on ? new Set(orphans.map((o) => o.externalId ?? "")) : new Set())}
                    >
                      <span className="visually-hidden">Select all</span>
                    </CheckboxField>
                  </th>
                )}
                <th scope="col">Organization in the tool</th>
                <th scope="col">Why</th>
                <th scope="col">Since</th>
                <th scope="col">In Orgplane</th>
                {results && <th scope="col">Result</th>}
              </tr>
            </thead>
            <tbody>
              {orphans.map((o) => {
                const id = o.externalId ?? "";
                const r = results?.byId.get(id);
                return (
                  <tr key={id}>
                    {writer && (
                      <td className="integrations-select">
                        <CheckboxField aria-label={`Select ${o.name}`} isSelected={selected.has(id)} onChange={(on) => toggle(id, on)}>
                          <span className="visually-hidden">Select</span>
                        </CheckboxField>
                      </td>
                    )}
                    <th scope="row">
                      {o.name}
                      <span className="muted integrations-id"> #{id}</span>
                    </th>
                    <td>{o.stateReason || "—"}</td>
                    <td>{clock.dateTime(o.stateTime)}</td>
                    <td>{o.organizationId ? "Linked to an organization" : "Not linked"}</td>
                    {results && <td>{r ? (r.ok ? doneText[results.action] : r.errorMessage || r.errorReason) : ""}</td>}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
        {next && (
          <Button className="button secondary" onPress={() => void more()} isPending={loadingMore}>
            Show more orphans
          </Button>
        )}
        {writer && (
          <div className="integrations-actions" role="group" aria-label="Actions on the selected orphans">
            <span className="muted">{selected.size} selected</span>
            {selected.size > 0 && (
              <>
                <ConfirmButton
                  label="Unlink"
                  tone="primary"
                  title={`Unlink ${selected.size} ${selected.size === 1 ? "orphan" : "orphans"}?`}
                  confirmLabel="Unlink"
                  onConfirm={() => resolve("ORPHAN_ACTION_UNLINK")}
                >
                  <p>Orgplane forgets these companies and their links. The Orgplane organizations stay as they are.</p>
                </ConfirmButton>
                <ConfirmButton
                  label="Dismiss"
                  tone="primary"
                  title={`Dismiss ${selected.size} ${selected.size === 1 ? "orphan" : "orphans"}?`}
                  confirmLabel="Dismiss"
                  onConfirm={() => resolve("ORPHAN_ACTION_DISMISS")}
                >
                  <p>Everything stays as it is; they leave this list.</p>
                </ConfirmButton>
                <ConfirmButton
                  label="Delete the organizations"
                  title={`Delete ${linkedSelected} linked ${linkedSelected === 1 ? "organization" : "organizations"}?`}
                  confirmLabel="Delete"
                  onConfirm={() => resolve("ORPHAN_ACTION_DELETE_ORGANIZATION")}
                >
                  <p>
                    The Orgplane organizations linked to the selected companies are deleted, with their sub-organizations, then the companies are
                    forgotten. This cannot be undone. Orphans that are not linked get an error and stay.
                  </p>
                </ConfirmButton>
              </>
            )}
            <Button className="button secondary" onPress={() => setRound((r) => r + 1)}>
              Reload
            </Button>
          </div>
        )}
      </>
    );
  }

  return (
    <section className="section" aria-labelledby="integration-orphans-title">
      <h3 id="integration-orphans-title">Orphans</h3>
      <p className="muted">
        An orphan is an organization the tool no longer has (deleted there, gone from its list, or out of the sync scope) that Orgplane still
        remembers.
      </p>
      {body}
    </section>
  );
}

function ResultSummary({ action, results }: { action: Action; results: Result[] }) {
  const ok = results.filter((r) => r.ok).length;
  const failed = results.length - ok;
  const text = `${doneText[action]}: ${ok} of ${results.length}.`;
  return (
    <Alert tone={failed ? "warning" : "success"}>
      {text}
      {failed > 0 && ` ${failed} could not be resolved; their reasons are in the Result column.`}
    </Alert>
  );
}

