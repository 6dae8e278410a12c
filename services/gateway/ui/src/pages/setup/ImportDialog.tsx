import { useEffect, useMemo, useState } from "react";
import { Button, Input, Label, ProgressBar, SearchField } from "react-aria-components";
import { api, call, errorMessage, isAbort, type Schemas } from "../../api/client";
import { Alert } from "../../components/Alert";
import { CheckboxField } from "../../components/forms";
import { Loading } from "../../components/Loading";
import { DialogActions, ModalDialog } from "../../components/ModalDialog";
import { choices, columnName, outcomeText, selectAll, type Candidate, type Column, type Licenses } from "./model";

type ImportOp = Schemas["v1ImportOperation"];
type ImportItem = Schemas["v1ImportItem"];

type Props = {
  accountId: string;
  integration: Column;
  /** The names of the account's organizations: a candidate of the same name links, taking no license. */
  existingNames: ReadonlySet<string>;
  onClose: (changed: boolean) => void;
};

/**
 * ImportDialog is "Add from IT Glue": a searchable checklist of the IT Glue organizations not in
 * Orgplane yet. Those that would create an organization past the remaining licenses are greyed
 * out with the reason. Import starts the import and follows it to its per-item results.
 */
export function ImportDialog({ accountId, integration, existingNames, onClose }: Props) {
  const integrationId = integration.id ?? "";
  const [query, setQuery] = useState("");
  const [list, setList] = useState<{ candidates: Candidate[]; licenses?: Licenses; loading: boolean; error?: string }>({ candidates: [], loading: true });
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [op, setOp] = useState<ImportOp>();
  const [items, setItems] = useState<ImportItem[]>();
  const [startError, setStartError] = useState<string>();
  const [starting, setStarting] = useState(false);

  useEffect(() => {
    const ctrl = new AbortController();
    setList((l) => ({ ...l, loading: true }));
    const timer = setTimeout(() => {
      (async () => {
        let token = "";
        let all: Candidate[] = [];
        let licenses: Licenses | undefined;
        do {
          const page = await call(
            api.GET("/v1/accounts/{accountId}/integrations/{integrationId}/importCandidates", {
              params: { path: { accountId, integrationId }, query: { query: query.trim(), pageSize: 1000, pageToken: token || undefined } },
              signal: ctrl.signal,
            }),
          );
          all = all.concat(page.candidates ?? []);
          licenses = page.licenses;
          token = page.nextPageToken ?? "";
        } while (token);
        setList({ candidates: all, licenses, loading: false });
      })().catch((e: unknown) => {
        if (!isAbort(e)) setList({ candidates: [], loading: false, error: errorMessage(e) });
      });
    }, 150);
    return () => {
      clearTimeout(timer);
      ctrl.abort();
    };
  }, [accountId, integrationId, query]);

  const marked = useMemo(() => choices(list.candidates, selected, existingNames, list.licenses), [list, selected, existingNames]);
  // "All" is every candidate the licenses allow: the greyed-out ones cannot be selected.
  const allSelected = marked.length > 0 && marked.every((m) => selected.has(m.candidate.externalOrganizationId ?? "") || m.disabledReason !== "");
  const greyed = marked.filter((m) => m.disabledReason).length;

  // Follow the import until every item has its outcome, then read the outcomes.
  useEffect(() => {
    if (!op?.id) return;
    const importId = op.id;
    if (op.state === "IMPORT_STATE_RUNNING") {
      const timer = setTimeout(() => {
        call(api.GET("/v1/accounts/{accountId}/imports/{importId}", { params: { path: { accountId, importId } } })).then(setOp, (e: unknown) =>
          setStartError(errorMessage(e)),
        );
      }, 500);
      return () => clearTimeout(timer);
    }
    const ctrl = new AbortController();
    (async () => {
      let token = "";
      let all: ImportItem[] = [];
      do {
        const page = await call(
          api.GET("/v1/accounts/{accountId}/imports/{importId}/items", {
            params: { path: { accountId, importId }, query: { pageSize: 1000, pageToken: token || undefined } },
            signal: ctrl.signal,
          }),
        );
        all = all.concat(page.items ?? []);
        token = page.nextPageToken ?? "";
      } while (token);
      setItems(all);
    })().catch((e: unknown) => {
      if (!isAbort(e)) setStartError(errorMessage(e));
    });
    return () => ctrl.abort();
  }, [accountId, op]);

  const start = () => {
    setStarting(true);
    setStartError(undefined);
    const ids = list.candidates.map((c) => c.externalOrganizationId ?? "").filter((id) => selected.has(id));
    call(
      api.POST("/v1/accounts/{accountId}/integrations/{integrationId}:import", {
        params: { path: { accountId, integrationId } },
        body: { requestId: crypto.randomUUID(), externalOrganizationIds: ids },
      }),
    )
      .then(setOp, (e: unknown) => setStartError(errorMessage(e)))
      .finally(() => setStarting(false));
  };

  const tool = columnName(integration);
  const lic = list.licenses;
  const done = op && op.state !== "IMPORT_STATE_RUNNING";
  return (
    <ModalDialog
      title={`Add from ${tool}`}
      modalClassName="setup-import-modal"
      dialogClassName="setup-import"
      isOpen
      isDismissable={!op || Boolean(done)}
      onOpenChange={(open) => !open && onClose(Boolean(op))}
    >
      {!op ? (
        <>
          <p className="muted">
            {tool} organizations not in Orgplane yet. One whose exact name an organization has is linked to it; the others are created, one license each.{" "}
            {lic && (lic.unlimited ? "Licenses: unlimited." : `Licenses: ${lic.remaining ?? 0} remaining of ${lic.limit ?? 0}.`)}
          </p>
          <SearchField className="field" value={query} onChange={setQuery}>
            <Label>Search {tool} organizations</Label>
            <Input />
          </SearchField>
          {list.error && <Alert tone="error">{list.error}</Alert>}
          {list.loading && list.candidates.length === 0 ? (
            <Loading label={`Loading ${tool} organizations`} />
          ) : list.candidates.length === 0 ? (
            <p className="empty-state">{query.trim() ? `No ${tool} organization matches “${query.trim()}”.` : `Every ${tool} organization is in Orgplane already.`}</p>
          ) : (
            <>
              <div className="setup-import-head">
                <CheckboxField
                  isSelected={allSelected}
                  isIndeterminate={!allSelected && selected.size > 0}
                  onChange={(on) => setSelected(on ? selectAll(list.candidates, existingNames, lic) : new Set())}
                >
                  Select all ({list.candidates.length})
                </CheckboxField>
                <span className="muted" role="status">
                  {selected.size} selected{greyed > 0 ? `, ${greyed} unavailable: no license left` : ""}
                </span>
              </div>
              <ul className="setup-import-list" aria-label={`${tool} organizations`}>
                {marked.map(({ candidate, needsLicense, disabledReason }) => {
                  const id = candidate.externalOrganizationId ?? "";
                  return (
                    <li key={id} className={disabledReason ? "setup-import-disabled" : ""}>
                      <CheckboxField
                        isSelected={selected.has(id)}
                        isDisabled={Boolean(disabledReason)}
                        onChange={(on) =>
                          setSelected((s) => {
                            const next = new Set(s);
                            if (on) next.add(id);
                            else next.delete(id);
                            return next;
                          })
                        }
                      >
                        {candidate.name}
                      </CheckboxField>
                      <span className="setup-note">{disabledReason || (needsLicense ? "Creates an organization" : "Links to the organization of this name")}</span>
                    </li>
                  );
                })}
              </ul>
            </>
          )}
          {startError && <Alert tone="error">{startError}</Alert>}
          <DialogActions onCancel={() => onClose(false)} isPending={starting}>
            <Button className="button primary" onPress={start} isPending={starting} isDisabled={selected.size === 0}>
              {selected.size === 1 ? "Import 1 organization" : `Import ${selected.size} organizations`}
            </Button>
          </DialogActions>
        </>
      ) : (
        <>
          <ProgressBar
            className="setup-progress"
            value={op.itemsDone ?? 0}
            maxValue={Math.max(1, op.itemsTotal ?? 0)}
            aria-label="Import progress"
            valueLabel={`${op.itemsDone ?? 0} of ${op.itemsTotal ?? 0} imported`}
          >
            {({ percentage, valueText }) => (
              <>
                <span>{done ? (op.state === "IMPORT_STATE_FAILED" ? "Import failed" : "Import finished") : "Importing"}: {valueText}</span>
                <span className="setup-progress-track">
                  <span className="setup-progress-fill" style={{ width: `${percentage ?? 0}%` }} />
                </span>
              </>
            )}
          </ProgressBar>
          <p role="status">
            {op.counts?.created ?? 0} created, {op.counts?.linked ?? 0} linked, {op.counts?.relinked ?? 0} relinked, {op.counts?.failed ?? 0} not imported.
          </p>
          {op.error && <Alert tone="error">{op.error}</Alert>}
          {startError && <Alert tone="error">{startError}</Alert>}
          {done && !items && <Loading label="Loading the results" />}
          {items && (
            <div className="table-wrap setup-import-results">
              <table className="table">
                <caption className="visually-hidden">Results per organization</caption>
                <thead>
                  <tr>
                    <th scope="col">{tool} organization</th>
                    <th scope="col">Result</th>
                    <th scope="col">Why</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((it) => (
                    <tr key={it.externalOrganizationId}>
                      <th scope="row">{it.name}</th>
                      <td>{outcomeText(it.outcome)}</td>
                      <td>{it.reason ?? ""}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <div className="dialog-actions">
            <Button className="button primary" onPress={() => onClose(true)} isDisabled={!done}>
              Close
            </Button>
          </div>
        </>
      )}
    </ModalDialog>
  );
}
