import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from "react";
import { Button, Input, Label, ListBox, ListBoxItem, Popover, ProgressBar, SearchField, Select, SelectValue } from "react-aria-components";
import { useVirtualizer } from "@tanstack/react-virtual";
import { ApiError, api, call, errorMessage, isAbort, type Schemas } from "../../api/client";
import { useClock, useSession } from "../../app/session";
import { Alert } from "../../components/Alert";
import { EmptyState } from "../../components/EmptyState";
import { Loading } from "../../components/Loading";
import { Page } from "../../components/Page";
import { CellPicker } from "./CellPicker";
import { ImportDialog } from "./ImportDialog";
import {
  cellKey,
  cellOf,
  changedRowIds,
  columnName,
  filterRows,
  mergeRows,
  unmappedCount,
  type Column,
  type Licenses,
  type PendingChange,
  type Row,
  type Suggestion,
} from "./model";
import "./setup.css";

type Operation = Schemas["integrationsyncV1Operation"];
type GridFilter = Schemas["v1GridFilter"];

const filters: { id: string; name: string }[] = [
  { id: "all", name: "All" },
  { id: "GRID_FILTER_UNMAPPED", name: "Unmapped" },
  { id: "GRID_FILTER_MAPPED", name: "Mapped" },
  { id: "GRID_FILTER_ORPHANED", name: "Orphaned in their tool" },
];

const pageSize = 1000;
const rowHeight = 64;

/**
 * SetupOrganizationsPage is the mapping grid (/setup-organizations): one row per organization,
 * one column per connected integration, each cell the organization's twin in that tool. Changes
 * collect until Save (one all-or-none batch with the row versions read) or Cancel; X removes one
 * mapping at once; match suggestions are accepted with one press. The rows are read once, in
 * pages, and searched in the page, so that a keystroke narrows them without a round trip.
 */
export default function SetupOrganizationsPage() {
  const { accountId, can } = useSession();
  const canMap = can("mappings:write");
  const canRefresh = can("integrations:write") && can("integrations:read");
  const canImport = canMap && can("organizations:write");

  const [rows, setRows] = useState<Row[]>([]);
  const [columns, setColumns] = useState<Column[]>([]);
  const [licenses, setLicenses] = useState<Licenses>();
  const [grid, setGrid] = useState<{ loading: boolean; complete: boolean; error?: unknown }>({ loading: true, complete: false });
  const [round, setRound] = useState(0);
  const reload = useCallback(() => setRound((r) => r + 1), []);
  // The API's state filter ("" shows every row) and the integration it applies to ("" any).
  const [filter, setFilter] = useState("");
  const [filterIn, setFilterIn] = useState("");
  const filtered = filter !== "";

  // The rows, a page at a time: the first page shows at once, the rest follow. A new filter
  // starts again from the first page.
  useEffect(() => {
    const ctrl = new AbortController();
    setGrid((g) => ({ ...g, loading: true, error: undefined }));
    (async () => {
      let token = "";
      let all: Row[] = [];
      do {
        const page = await call(
          api.GET("/v1/accounts/{accountId}/mappingGrid", {
            params: { path: { accountId }, query: {
                pageSize,
                pageToken: token || undefined,
                filter: (filter || undefined) as GridFilter | undefined,
                integrationId: (filter && filterIn) || undefined,
              },
            },
            signal: ctrl.signal,
          }),
        );
        all = all.concat(page.rows ?? []);
        token = page.nextPageToken ?? "";
        setRows(all);
        setColumns(page.integrations ?? []);
        setLicenses(page.licenses);
        setGrid({ loading: false, complete: !token });
      } while (token);
    })().catch((error: unknown) => {
      if (!isAbort(error)) setGrid({ loading: false, complete: false, error });
    });
    return () => ctrl.abort();
  }, [accountId, round, filter, filterIn]);

  // Suggestions for every unmapped cell, best one per organization and integration.
  const [suggestions, setSuggestions] = useState<Map<string, Suggestion>>(new Map());
  const columnIds = columns.map((c) => c.id ?? "").join(",");
  useEffect(() => {
    if (!columnIds || !grid.complete) return;
    const ctrl = new AbortController();
    const found = new Map<string, Suggestion>();
    Promise.all(
      columnIds.split(",").map(async (integrationId) => {
        let token = "";
        do {
          const page = await call(
            api.GET("/v1/accounts/{accountId}/integrations/{integrationId}/matchSuggestions", {
              params: { path: { accountId, integrationId }, query: { perOrganization: 1, pageSize, pageToken: token || undefined } },
              signal: ctrl.signal,
            }),
          );
          for (const s of page.suggestions ?? []) found.set(cellKey(s.organizationId ?? "", integrationId), s);
          token = page.nextPageToken ?? "";
        } while (token);
      }),
    ).then(
      () => setSuggestions(found),
      // Suggestions are a help: the grid works without them.
      (e: unknown) => {
        if (!isAbort(e)) setSuggestions(new Map());
      },
    );
    return () => ctrl.abort();
  }, [accountId, columnIds, grid.complete, round]);

  const [pending, setPending] = useState<Map<string, PendingChange>>(new Map());
  const [rowErrors, setRowErrors] = useState<Map<string, string>>(new Map());
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState<string>();
  const [saved, setSaved] = useState<string>();
  const [saves, setSaves] = useState(0);

  // While a filter narrows the rows, the summary still counts the whole account: the API counts
  // every row, and those missing a link in some integration (what "remaining" means).
  const [accountCounts, setAccountCounts] = useState<{ total: number; unmapped: number }>();
  useEffect(() => {
    if (!filtered) return;
    const ctrl = new AbortController();
    const count = (f?: GridFilter) =>
      call(api.GET("/v1/accounts/{accountId}/mappingGrid", { params: { path: { accountId }, query: { pageSize: 1, filter: f } }, signal: ctrl.signal })).then((g) =>
        Number(g.totalSize ?? 0),
      );
    setAccountCounts(undefined);
    Promise.all([count(), count("GRID_FILTER_UNMAPPED")]).then(
      ([total, unmapped]) => setAccountCounts({ total, unmapped }),
      (e: unknown) => {
        if (!isAbort(e)) setAccountCounts(undefined);
      },
    );
    return () => ctrl.abort();
  }, [accountId, filtered, round, saves]);

  const change = useCallback((organizationId: string, integrationId: string, c: PendingChange | undefined) => {
    setSaved(undefined);
    setPending((p) => {
      const next = new Map(p);
      if (c) next.set(cellKey(organizationId, integrationId), c);
      else next.delete(cellKey(organizationId, integrationId));
      return next;
    });
  }, []);

  const rowsById = useMemo(() => new Map(rows.map((r) => [r.organizationId ?? "", r])), [rows]);

  const save = useCallback(
    async (changes: Map<string, PendingChange>, clearAfter: boolean) => {
      const body = [...changes].map(([key, c]) => {
        const [organizationId = "", integrationId = ""] = key.split("|");
        return { organizationId, integrationId, externalOrganizationId: c.externalId, version: rowsById.get(organizationId)?.version ?? "0" };
      });
      setSaving(true);
      setSaveError(undefined);
      setSaved(undefined);
      try {
        const r = await call(api.POST("/v1/accounts/{accountId}/mappings:batchSave", { params: { path: { accountId } }, body: { changes: body } }));
        setRows((rs) => mergeRows(rs, r.rows ?? []));
        setRowErrors(new Map());
        if (clearAfter) setPending(new Map());
        setSaves((n) => n + 1);
        setSaved(body.length === 1 ? "Saved 1 change." : `Saved ${body.length} changes.`);
      } catch (e) {
        if (e instanceof ApiError && e.reason === "ROWS_CHANGED") {
          const ids = changedRowIds(e.metadata);
          setRowErrors(new Map(ids.map((id) => [id, "Changed by someone else since the grid was loaded."])));
          setSaveError(
            `Nothing was saved: ${ids.length === 1 ? "1 row was" : `${ids.length} rows were`} changed by someone else since the grid was loaded (marked below). Reload the grid to see their changes; your unsaved changes stay.`,
          );
        } else {
          setSaveError(`Nothing was saved: ${errorMessage(e)}`);
        }
      } finally {
        setSaving(false);
      }
    },
    [accountId, rowsById],
  );

  const remove = useCallback(
    (organizationId: string, integrationId: string) => {
      const key = cellKey(organizationId, integrationId);
      if (pending.has(key)) {
        change(organizationId, integrationId, undefined);
        return;
      }
      // X removes a saved mapping at once: a batch of one change.
      void save(new Map([[key, { externalId: "", externalName: "" }]]), false);
    },
    [pending, change, save],
  );

  const [query, setQuery] = useState("");
  const shown = useMemo(() => filterRows(rows, query), [rows, query]);

  // External organizations in use per column (saved or unsaved), so that a suggestion or a
  // choice never offers one twice; and those whose saved row an unsaved change replaces, which
  // another row may take in the same batch (the API applies unlinks first).
  const { taken, freed } = useMemo(() => {
    const taken = new Map<string, Set<string>>();
    const freed = new Map<string, Set<string>>();
    for (const c of columns) {
      taken.set(c.id ?? "", new Set());
      freed.set(c.id ?? "", new Set());
    }
    for (const r of rows)
      for (const cell of r.cells ?? []) {
        const col = cell.integrationId ?? "";
        const replaced = pending.has(cellKey(r.organizationId ?? "", col));
        (replaced ? freed : taken).get(col)?.add(cell.externalOrganizationId ?? "");
      }
    for (const [key, c] of pending) if (c.externalId) taken.get(key.split("|")[1] ?? "")?.add(c.externalId);
    return { taken, freed };
  }, [rows, columns, pending]);

  const [importing, setImporting] = useState(false);
  const itGlue = columns.find((c) => c.kind === "itglue");
  const existingNames = useMemo(() => new Set(rows.map((r) => r.organizationName ?? "")), [rows]);

  const refresh = useRefresh(accountId, columns, canRefresh, reload);

  const actions = (
    <>
      {canRefresh && columns.length > 0 && (
        <Button className="button secondary" onPress={refresh.start} isPending={refresh.running}>
          Refresh
        </Button>
      )}
      {canImport && itGlue && grid.complete && (
        <Button className="button primary" onPress={() => setImporting(true)}>
          Add from IT Glue
        </Button>
      )}
    </>
  );

  if (grid.loading && rows.length === 0) {
    return (
      <Page title="Setup Organizations">
        <Loading label="Loading the organizations" />
      </Page>
    );
  }
  if (grid.error && rows.length === 0) {
    return (
      <Page title="Setup Organizations">
        <Alert tone="error">{errorMessage(grid.error)}</Alert>
      </Page>
    );
  }

  const total = filtered ? accountCounts?.total : rows.length;
  const unmapped = filtered ? accountCounts?.unmapped : grid.complete ? unmappedCount(rows, columns) : undefined;
  const showAll = () => {
    setFilter("");
    setFilterIn("");
  };
  return (
    <Page title="Setup Organizations" actions={actions}>
      <div className="setup-summary" role="status">
        <span>
          <strong>Total Organizations: {total ?? "…"}</strong>
          {columns.length > 0 && <> · {unmapped !== undefined ? `${unmapped} remaining` : "counting…"}</>}
        </span>
        <span className="muted">
          {columns.length > 0 && "Remaining: missing a mapping in at least one integration. "}
          {licenses && (licenses.unlimited ? "Licenses: unlimited." : `Licenses: ${licenses.remaining ?? 0} remaining of ${licenses.limit ?? 0}.`)}
        </span>
      </div>
      {grid.error !== undefined && <Alert tone="error">{errorMessage(grid.error)}</Alert>}
      <RefreshStatus refresh={refresh} columns={columns} />
      {columns.length === 0 ? (
        <EmptyState title="No integration is connected">
          Connect IT Glue, ConnectWise or Autotask under Integrations; each one becomes a column here to map your organizations to.
        </EmptyState>
      ) : rows.length === 0 && !filtered ? (
        <EmptyState title="No organizations yet">
          Create organizations under Organizations{canImport && itGlue ? ", or add them from IT Glue" : ""}.
        </EmptyState>
      ) : (
        <>
          <div className="setup-toolbar">
            <SearchField className="field setup-search" value={query} onChange={setQuery} aria-label="Search organizations">
              <Label className="visually-hidden">Search organizations</Label>
              <Input placeholder="Search organizations" />
            </SearchField>
            <FilterSelect
              label="Show"
              value={filter || "all"}
              items={filters}
              isDisabled={pending.size > 0}
              onChange={(k) => (k === "all" ? showAll() : setFilter(k))}
            />
            <FilterSelect
              label="in"
              value={filterIn || "any"}
              items={[{ id: "any", name: "Any integration" }, ...columns.map((c) => ({ id: c.id ?? "", name: columnName(c) }))]}
              isDisabled={pending.size > 0 || !filtered}
              onChange={(k) => setFilterIn(k === "any" ? "" : k)}
            />
            <span className="muted" aria-live="polite">
              {pending.size > 0 && "Save or cancel your changes to change the filter. "}
              {query.trim() ? `${shown.length} of ${rows.length} shown` : ""}
              {grid.loading ? " Loading organizations…" : !grid.complete && " Loading more organizations…"}
            </span>
          </div>
          {(pending.size > 0 || saveError || saved) && (
            <div className="setup-savebar" role="region" aria-label="Unsaved changes">
              {pending.size > 0 && (
                <>
                  <span>{pending.size === 1 ? "1 unsaved change" : `${pending.size} unsaved changes`}</span>
                  <Button className="button primary" onPress={() => void save(pending, true)} isPending={saving}>
                    Save
                  </Button>
                  <Button
                    className="button secondary"
                    isDisabled={saving}
                    onPress={() => {
                      setPending(new Map());
                      setSaveError(undefined);
                      setRowErrors(new Map());
                    }}
                  >
                    Cancel
                  </Button>
                </>
              )}
              {saveError && (
                <>
                  <Alert tone="error">{saveError}</Alert>
                  {rowErrors.size > 0 && (
                    <Button className="button secondary" onPress={reload}>
                      Reload the grid
                    </Button>
                  )}
                </>
              )}
              {saved && !saveError && <Alert tone="success">{saved}</Alert>}
            </div>
          )}
          {rows.length === 0 ? (
            <EmptyState
              title="No organizations match this filter"
              action={
                <Button className="button secondary" onPress={showAll}>
                  Show all organizations
                </Button>
              }
            />
          ) : shown.length === 0 ? (
            <EmptyState title={`No organization matches “${query.trim()}”`} />
          ) : (
            <Grid
              accountId={accountId}
              rows={shown}
              query={query}
              columns={columns}
              pending={pending}
              suggestions={suggestions}
              taken={taken}
              freed={freed}
              rowErrors={rowErrors}
              canMap={canMap && !saving}
              onChange={change}
              onRemove={remove}
            />
          )}
        </>
      )}
      {importing && itGlue && (
        <ImportDialog
          accountId={accountId}
          integration={itGlue}
          existingNames={existingNames}
          onClose={(changed) => {
            setImporting(false);
            if (changed) reload();
          }}
        />
      )}
    </Page>
  );
}

/** FilterSelect is one of the toolbar's filter drop-downs; its keys are never empty. */
function FilterSelect({
  label,
  value,
  items,
  isDisabled,
  onChange,
}: {
  label: string;
  value: string;
  items: { id: string; name: string }[];
  isDisabled: boolean;
  onChange: (key: string) => void;
}) {
  return (
    <Select className="field setup-filter" selectedKey={value} onSelectionChange={(k) => onChange(String(k))} isDisabled={isDisabled}>
      <Label>{label}</Label>
      <Button className="setup-select-button">
        <SelectValue />
        <span aria-hidden="true">▾</span>
      </Button>
      <Popover className="popover setup-popover">
        <ListBox className="menu" items={items}>
          {(i) => (
            <ListBoxItem className="menu-item" id={i.id} textValue={i.name}>
              {i.name}
            </ListBoxItem>
          )}
        </ListBox>
      </Popover>
    </Select>
  );
}

type GridProps = {
  accountId: string;
  rows: Row[];
  query: string;
  columns: Column[];
  pending: Map<string, PendingChange>;
  suggestions: Map<string, Suggestion>;
  taken: Map<string, Set<string>>;
  freed: Map<string, Set<string>>;
  rowErrors: Map<string, string>;
  canMap: boolean;
  onChange: (organizationId: string, integrationId: string, c: PendingChange | undefined) => void;
  onRemove: (organizationId: string, integrationId: string) => void;
};

/**
 * Grid renders only the rows in view (5,000 rows stay responsive) in an ARIA grid: a row header
 * per organization, a cell per integration, the first column fixed while the others scroll
 * sideways. Arrow keys move between cells.
 */
function Grid({ accountId, rows, query, columns, pending, suggestions, taken, freed, rowErrors, canMap, onChange, onRemove }: GridProps) {
  const scroller = useRef<HTMLDivElement>(null);
  const gridRef = useRef<HTMLDivElement>(null);
  const [editing, setEditing] = useState<string>();
  const virtualizer = useVirtualizer({ count: rows.length, getScrollElement: () => scroller.current, estimateSize: () => rowHeight, overscan: 6 });

  // Marks for the browser tests' timing: when rows first show, and when a search's rows show.
  const painted = useRef(false);
  useEffect(() => {
    if (painted.current || rows.length === 0) return;
    painted.current = true;
    afterPaint(() => performance.mark("setup-grid-rows"));
  }, [rows.length]);
  useLayoutEffect(() => {
    afterPaint(() => {
      performance.mark("setup-grid-filtered");
      gridRef.current?.setAttribute("data-rendered-query", query);
    });
  }, [query]);

  const template = `minmax(14rem, 18rem) repeat(${columns.length}, minmax(16rem, 1fr))`;

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const moves: Record<string, [number, number]> = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    const move = moves[e.key];
    const from = (e.target as HTMLElement).closest<HTMLElement>("[data-r]");
    if (!move || !from || (e.target as HTMLElement).tagName === "INPUT") return;
    const r = Math.min(rows.length - 1, Math.max(0, Number(from.dataset.r) + move[0]));
    const c = Math.min(columns.length, Math.max(0, Number(from.dataset.c) + move[1]));
    e.preventDefault();
    virtualizer.scrollToIndex(r);
    const focus = (tries: number) => {
      const cell = gridRef.current?.querySelector<HTMLElement>(`[data-r="${r}"][data-c="${c}"]`);
      const target = cell?.querySelector<HTMLElement>("button, input") ?? cell;
      if (target) target.focus();
      else if (tries > 0) requestAnimationFrame(() => focus(tries - 1));
    };
    focus(5);
  };

  return (
    <div className="setup-grid-scroll" ref={scroller}>
      <div
        ref={gridRef}
        role="grid"
        aria-label="Organizations and their mappings"
        aria-rowcount={rows.length + 1}
        aria-colcount={columns.length + 1}
        className="setup-grid"
        onKeyDown={onKeyDown}
      >
        <div role="rowgroup" className="setup-head">
          <div role="row" aria-rowindex={1} className="setup-row" style={{ gridTemplateColumns: template }}>
            <div role="columnheader" className="setup-cell setup-first">
              Organization
            </div>
            {columns.map((c) => (
              <ColumnHeader key={c.id} column={c} />
            ))}
          </div>
        </div>
        <div role="rowgroup" className="setup-body" style={{ height: virtualizer.getTotalSize() }}>
          {virtualizer.getVirtualItems().map((v) => {
            const row = rows[v.index]!;
            const id = row.organizationId ?? "";
            return (
              <div
                key={id}
                role="row"
                aria-rowindex={v.index + 2}
                className={`setup-row${rowErrors.has(id) ? " setup-row-conflict" : ""}`}
                style={{ gridTemplateColumns: template, transform: `translateY(${v.start}px)`, height: rowHeight }}
              >
                <div role="rowheader" className="setup-cell setup-first" data-r={v.index} data-c={0} tabIndex={-1}>
                  <span className="setup-org-name">{row.organizationName}</span>
                  {!row.active && <span className="tag">Inactive</span>}
                  {rowErrors.has(id) && <span className="setup-row-error">{rowErrors.get(id)}</span>}
                </div>
                {columns.map((c, ci) => {
                  const key = cellKey(id, c.id ?? "");
                  return (
                    <Cell
                      key={c.id}
                      accountId={accountId}
                      row={row}
                      column={c}
                      r={v.index}
                      c={ci + 1}
                      pending={pending.get(key)}
                      suggestion={suggestions.get(key)}
                      taken={taken.get(c.id ?? "")}
                      freed={freed.get(c.id ?? "")}
                      editing={editing === key}
                      canMap={canMap}
                      onEdit={(on) => setEditing(on ? key : undefined)}
                      onChange={onChange}
                      onRemove={onRemove}
                    />
                  );
                })}
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}

function ColumnHeader({ column }: { column: Column }) {
  const clock = useClock();
  return (
    <div role="columnheader" className="setup-cell">
      <span>{columnName(column)}</span>
      <span className="setup-col-note">
        {column.refreshing ? "Refreshing…" : column.lastRefreshTime ? `Refreshed ${clock.dateTime(column.lastRefreshTime)}` : "Never refreshed"}
      </span>
    </div>
  );
}

type CellProps = {
  accountId: string;
  row: Row;
  column: Column;
  r: number;
  c: number;
  pending: PendingChange | undefined;
  suggestion: Suggestion | undefined;
  taken: Set<string> | undefined;
  freed: Set<string> | undefined;
  editing: boolean;
  canMap: boolean;
  onEdit: (on: boolean) => void;
  onChange: (organizationId: string, integrationId: string, c: PendingChange | undefined) => void;
  onRemove: (organizationId: string, integrationId: string) => void;
};

const stateNames: Record<string, string> = {
  EXTERNAL_STATE_ORPHANED: "Orphaned",
  EXTERNAL_STATE_SYNC_DISABLED: "Sync off",
  EXTERNAL_STATE_SYNC_ERROR: "Sync error",
};

const noneFreed: ReadonlySet<string> = new Set();

/** Cell is one organization in one integration: its twin, an unsaved choice, or a suggestion. */
const Cell = memo(function Cell({ accountId, row, column, r, c, pending, suggestion, taken, freed, editing, canMap, onEdit, onChange, onRemove }: CellProps) {
  const org = row.organizationName ?? "";
  const integrationId = column.id ?? "";
  const organizationId = row.organizationId ?? "";
  const tool = columnName(column);
  const saved = cellOf(row, integrationId);
  const current = pending ? (pending.externalId ? pending.externalName : "") : (saved?.externalName ?? "");
  const linked = current !== "";
  const valueText = linked ? current : "Not mapped";
  const showSuggestion = !linked && !pending && suggestion && !taken?.has(suggestion.externalOrganizationId ?? "");
  const state = !pending && saved?.state ? stateNames[saved.state] : undefined;

  if (editing) {
    const elsewhere = new Set(taken);
    // The row's own saved twin may be chosen again, unless its unsaved change let go of it and
    // another row took it since.
    if (saved?.externalOrganizationId && !freed?.has(saved.externalOrganizationId)) elsewhere.delete(saved.externalOrganizationId);
    if (pending?.externalId) elsewhere.delete(pending.externalId);
    return (
      <div role="gridcell" className="setup-cell setup-editing" data-r={r} data-c={c}>
        <CellPicker
          accountId={accountId}
          integrationId={integrationId}
          organizationId={organizationId}
          label={`${tool} organization for ${org}`}
          takenElsewhere={elsewhere}
          freed={freed ?? noneFreed}
          onChoose={(externalId, externalName) => {
            onChange(
              organizationId,
              integrationId,
              externalId === saved?.externalOrganizationId ? undefined : { externalId, externalName },
            );
            onEdit(false);
          }}
          onClose={() => onEdit(false)}
        />
      </div>
    );
  }
  return (
    <div role="gridcell" className={`setup-cell${pending ? " setup-pending" : ""}`} data-r={r} data-c={c}>
      <div className="setup-cell-main">
        {canMap ? (
          <Button className={`setup-value${linked ? "" : " setup-unmapped"}`} aria-label={`${tool} for ${org}: ${valueText}`} onPress={() => onEdit(true)}>
            {valueText}
          </Button>
        ) : (
          <span className={`setup-value${linked ? "" : " setup-unmapped"}`}>{valueText}</span>
        )}
        {canMap && linked && (
          <Button className="setup-x" aria-label={`Remove the ${tool} mapping of ${org}`} onPress={() => onRemove(organizationId, integrationId)}>
            <span aria-hidden="true">×</span>
          </Button>
        )}
        {canMap && pending && !linked && (
          <Button className="setup-x" aria-label={`Undo removing the ${tool} mapping of ${org}`} onPress={() => onChange(organizationId, integrationId, undefined)}>
            <span aria-hidden="true">↺</span>
          </Button>
        )}
      </div>
      {pending && <span className="setup-note">{pending.externalId ? "Unsaved" : "Unsaved removal"}</span>}
      {state && <span className="setup-note setup-warn">{state}</span>}
      {showSuggestion && (
        <div className="setup-suggestion">
          <span className="setup-note" title={suggestion.reason}>
            Suggested: {suggestion.externalName}
          </span>
          {canMap && (
            <Button
              className="setup-accept"
              aria-label={`Accept ${suggestion.externalName} for ${org} in ${tool}`}
              onPress={() => onChange(organizationId, integrationId, { externalId: suggestion.externalOrganizationId ?? "", externalName: suggestion.externalName ?? "" })}
            >
              Accept
            </Button>
          )}
        </div>
      )}
    </div>
  );
});

/** afterPaint runs fn once the browser has painted the current frame. */
function afterPaint(fn: () => void) {
  requestAnimationFrame(() => setTimeout(fn, 0));
}

type Refresh = { running: boolean; ops: Operation[]; error?: string; start: () => void };

/**
 * useRefresh starts a refresh of every column's integration and follows the operations until
 * they end, then reloads the grid. A refresh already running when the page opens is followed
 * too.
 */
function useRefresh(accountId: string, columns: Column[], canRefresh: boolean, reload: () => void): Refresh {
  const [ops, setOps] = useState<Operation[]>([]);
  const [error, setError] = useState<string>();
  const running = ops.some((o) => o.state === "OPERATION_STATE_RUNNING");
  const runningIds = ops.filter((o) => o.state === "OPERATION_STATE_RUNNING").map((o) => o.id ?? "").join(",");

  // Follows a refresh the grid says is running (started elsewhere, or before a reload).
  const busy = columns.filter((c) => c.refreshing).map((c) => c.id ?? "").join(",");
  useEffect(() => {
    if (!busy || !canRefresh || ops.length > 0) return;
    const ctrl = new AbortController();
    Promise.all(
      busy.split(",").map((integrationId) =>
        call(api.GET("/v1/accounts/{accountId}/operations", { params: { path: { accountId }, query: { integrationId, pageSize: 1 } }, signal: ctrl.signal })),
      ),
    ).then(
      (lists) => setOps(lists.flatMap((l) => l.operations ?? []).filter((o) => o.state === "OPERATION_STATE_RUNNING")),
      () => undefined,
    );
    return () => ctrl.abort();
  }, [accountId, busy, canRefresh, ops.length]);

  useEffect(() => {
    if (!runningIds) return;
    const timer = setTimeout(() => {
      Promise.all(
        runningIds.split(",").map((operationId) => call(api.GET("/v1/accounts/{accountId}/operations/{operationId}", { params: { path: { accountId, operationId } } }))),
      ).then(
        (now) => {
          const byId = new Map(now.map((o) => [o.id, o]));
          setOps((prev) => prev.map((o) => byId.get(o.id) ?? o));
          if (now.every((o) => o.state !== "OPERATION_STATE_RUNNING")) reload();
        },
        (e: unknown) => setError(errorMessage(e)),
      );
    }, 700);
    return () => clearTimeout(timer);
  }, [accountId, runningIds, ops, reload]);

  const start = useCallback(() => {
    setError(undefined);
    Promise.all(
      columns.map((c) =>
        call(api.POST("/v1/accounts/{accountId}/integrations/{integrationId}:refresh", { params: { path: { accountId, integrationId: c.id ?? "" } }, body: {} })),
      ),
    ).then(setOps, (e: unknown) => setError(errorMessage(e)));
  }, [accountId, columns]);

  return { running, ops, error, start };
}

const opStates: Record<string, string> = {
  OPERATION_STATE_SUCCEEDED: "done",
  OPERATION_STATE_FAILED: "failed",
  OPERATION_STATE_CANCELLED: "cancelled",
};

/** RefreshStatus shows each refresh's progress while it runs and what it changed after. */
function RefreshStatus({ refresh, columns }: { refresh: Refresh; columns: Column[] }) {
  if (refresh.error) return <Alert tone="error">Refresh: {refresh.error}</Alert>;
  if (refresh.ops.length === 0) return null;
  const name = (id: string | undefined) => {
    const c = columns.find((c) => c.id === id);
    return c ? columnName(c) : "Integration";
  };
  return (
    <section className="setup-refresh" aria-label="Refresh progress">
      {refresh.ops.map((o) => {
        const p = o.progress ?? {};
        const done = p.itemsDone ?? 0;
        const total = p.itemsTotal ?? 0;
        const res = o.result ?? {};
        return (
          <div key={o.id} className="setup-refresh-item">
            {o.state === "OPERATION_STATE_RUNNING" ? (
              <ProgressBar
                className="setup-progress"
                value={total > 0 ? done : undefined}
                maxValue={total || undefined}
                isIndeterminate={total === 0}
                aria-label={`Refreshing ${name(o.integrationId)}`}
                valueLabel={total > 0 ? `${done} of ${total} organizations read` : `${done} organizations read`}
              >
                {({ percentage, valueText }) => (
                  <>
                    <span>
                      Refreshing {name(o.integrationId)}: {valueText}
                    </span>
                    <span className="setup-progress-track">
                      <span className="setup-progress-fill" style={{ width: `${total > 0 ? (percentage ?? 0) : 30}%` }} />
                    </span>
                  </>
                )}
              </ProgressBar>
            ) : (
              <span role="status">
                {name(o.integrationId)} refresh {opStates[o.state ?? ""] ?? "ended"}
                {o.state === "OPERATION_STATE_SUCCEEDED"
                  ? `: ${res.created ?? 0} new, ${res.changed ?? 0} changed, ${res.orphaned ?? 0} orphaned, ${res.unchanged ?? 0} unchanged.`
                  : o.error?.message
                    ? `: ${o.error.message}`
                    : "."}
              </span>
            )}
          </div>
        );
      })}
    </section>
  );
}
