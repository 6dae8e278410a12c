import { useMemo, useState } from "react";
import { Button, Input, Label, SearchField } from "react-aria-components";
import { Link, useLocation } from "react-router";
import { api, call, errorMessage } from "../../api/client";
import { useClock, useSession } from "../../app/session";
import { Alert } from "../../components/Alert";
import { EmptyState } from "../../components/EmptyState";
import { Loading } from "../../components/Loading";
import { Page } from "../../components/Page";
import { useDebounced } from "../../lib/useDebounced";
import { useLoad } from "../../lib/useLoad";
import { OrgsCombo } from "./Combo";
import {
  ariaSort,
  filtering,
  loadVocabulary,
  nameOf,
  noFilters,
  orderLabel,
  pageSizes,
  readFilters,
  sameFilters,
  toggleOrder,
  writeFilters,
  type Filters,
  type Option,
  type Order,
  type SortKey,
} from "./model";
import "./organizations.css";

const states: Option[] = [
  { id: "ORGANIZATION_STATE_ACTIVE", name: "Active" },
  { id: "ORGANIZATION_STATE_INACTIVE", name: "Deactivated" },
];
const sizes: Option[] = pageSizes.map((n) => ({ id: String(n), name: `${n} per page` }));

const storage = () => (typeof window === "undefined" ? undefined : window.localStorage);

/**
 * SortHeader is a column header that orders the list: a button (Enter or Space when focused)
 * inside the header cell, which carries aria-sort while the list is ordered by it.
 */
function SortHeader({ label, sortKey, order, onSort }: { label: string; sortKey: SortKey; order: Order; onSort: (o: Order) => void }) {
  const sort = ariaSort(order, sortKey);
  return (
    <th scope="col" aria-sort={sort}>
      <Button className="orgs-sort" onPress={() => onSort(toggleOrder(order, sortKey))}>
        {label}
        <span className="orgs-sort-icon" aria-hidden="true">
          {sort === "ascending" ? "▲" : sort === "descending" ? "▼" : "↕"}
        </span>
      </Button>
    </th>
  );
}

/**
 * OrganizationsPage lists the account's organizations (/organizations): search by name as one
 * types, filters and the order (by name, creation or last change, either way) remembered in
 * this browser per account, the total, and pages by the API's page tokens.
 */
export default function OrganizationsPage() {
  const { accountId, can } = useSession();
  const clock = useClock();
  const location = useLocation();
  const notice = (location.state as { notice?: string } | null)?.notice;
  const [query, setQuery] = useState("");
  const search = useDebounced(query.trim(), 250);
  const [filters, setFilters] = useState<Filters>(() => readFilters(storage(), accountId));

  const vocab = useLoad((signal) => loadVocabulary(accountId, signal), [accountId]);

  const change = (f: Filters) => {
    setFilters(f);
    writeFilters(storage(), accountId, f);
  };
  const set = (k: keyof Filters) => (v: string) => change({ ...filters, [k]: k === "pageSize" ? Number(v) || noFilters.pageSize : v });

  // tokens[i] is the page token of page i (the first has none). Tokens belong to the search,
  // filters and order they were issued for: changing any of them starts again at the first page.
  const key = JSON.stringify([search, filters]);
  const [paging, setPaging] = useState<{ key: string; tokens: string[] }>({ key, tokens: [""] });
  const tokens = paging.key === key ? paging.tokens : [""];
  const setTokens = (f: (t: string[]) => string[]) => setPaging({ key, tokens: f(tokens) });
  const pageIndex = tokens.length - 1;

  const list = useLoad(
    (signal) =>
      call(
        api.GET("/v1/accounts/{accountId}/organizations", {
          params: {
            path: { accountId },
            query: {
              pageSize: filters.pageSize,
              pageToken: tokens[pageIndex] || undefined,
              query: search || undefined,
              state: filters.state || undefined,
              groupId: filters.groupId || undefined,
              typeId: filters.typeId || undefined,
              statusId: filters.statusId || undefined,
              engineerId: filters.engineerId || undefined,
              vcioId: filters.vcioId || undefined,
              orderBy: filters.orderBy,
            },
          },
          signal,
        }),
      ),
    [accountId, key, tokens[pageIndex]],
  );

  const v = vocab.data;
  const orgs = list.data?.organizations ?? [];
  const total = Number(list.data?.totalSize ?? 0);
  const first = pageIndex * filters.pageSize;
  const narrowed = search !== "" || filtering(filters);

  const names = useMemo(() => new Map(orgs.map((o) => [o.id, o.name])), [orgs]);

  const actions = can("organizations:write") ? (
    <Link className="button primary" to="/organizations/new">
      New organization
    </Link>
  ) : undefined;

  return (
    <Page title="Organizations" actions={actions}>
      {notice && <Alert tone="success">{notice}</Alert>}
      <section className="section orgs-filters" aria-label="Search and filters">
        <SearchField className="field orgs-search" value={query} onChange={setQuery} aria-describedby="orgs-search-hint">
          <Label>Search by name</Label>
          <Input />
        </SearchField>
        <p id="orgs-search-hint" className="visually-hidden">
          The list narrows as you type.
        </p>
        {vocab.error ? (
          <Alert tone="error">The filters could not load: {errorMessage(vocab.error)}</Alert>
        ) : (
          <div className="orgs-filter-grid">
            <OrgsCombo label="State" options={states} value={filters.state} onChange={set("state")} placeholder="Any" />
            <OrgsCombo label="Status" options={v?.statuses ?? []} value={filters.statusId} onChange={set("statusId")} placeholder="Any" />
            <OrgsCombo label="Type" options={v?.types ?? []} value={filters.typeId} onChange={set("typeId")} placeholder="Any" />
            {(v?.groupsReadable ?? true) && (
              <OrgsCombo label="Group" options={v?.groups ?? []} value={filters.groupId} onChange={set("groupId")} placeholder="All Organizations" />
            )}
            {(v?.usersReadable ?? true) && (
              <>
                <OrgsCombo label="Engineer" options={v?.users ?? []} value={filters.engineerId} onChange={set("engineerId")} placeholder="Any" />
                <OrgsCombo label="vCIO" options={v?.users ?? []} value={filters.vcioId} onChange={set("vcioId")} placeholder="Any" />
              </>
            )}
          </div>
        )}
        <div className="orgs-filter-actions">
          <Button
            className="button secondary"
            isDisabled={!narrowed && sameFilters(filters, noFilters)}
            onPress={() => {
              setQuery("");
              change({ ...noFilters });
            }}
          >
            Reset
          </Button>
          <p className="orgs-total" role="status" aria-live="polite">
            {list.data ? `${total} organization${total === 1 ? "" : "s"}${narrowed ? " match" : ""}` : ""}
          </p>
        </div>
      </section>

      {list.error ? (
        <Alert tone="error">{errorMessage(list.error)}</Alert>
      ) : list.loading && !list.data ? (
        <Loading label="Loading organizations" />
      ) : orgs.length === 0 ? (
        narrowed ? (
          <EmptyState title="No organization matches">Change the search or the filters, or press Reset.</EmptyState>
        ) : (
          <EmptyState title="No organizations yet" action={actions}>
            Organizations are the MSP's clients. Create one, or import them from an integration.
          </EmptyState>
        )
      ) : (
        <>
          <div className="table-wrap" aria-busy={list.loading}>
            <table className="table orgs-table">
              <caption className="visually-hidden">Organizations, {orderLabel(filters.orderBy)}</caption>
              <thead>
                <tr>
                  <SortHeader label="Name" sortKey="name" order={filters.orderBy} onSort={set("orderBy")} />
                  <th scope="col">Type</th>
                  <th scope="col">Status</th>
                  <th scope="col">Engineer</th>
                  <th scope="col">vCIO</th>
                  <th scope="col">State</th>
                  <SortHeader label="Created" sortKey="create_time" order={filters.orderBy} onSort={set("orderBy")} />
                  <SortHeader label="Updated" sortKey="update_time" order={filters.orderBy} onSort={set("orderBy")} />
                </tr>
              </thead>
              <tbody>
                {orgs.map((o) => (
                  <tr key={o.id}>
                    <th scope="row">
                      <Link to={`/organizations/${o.id}`}>{o.name}</Link>
                      {o.parentId && (
                        <span className="orgs-parent">
                          Sub-organization{names.get(o.parentId) ? ` of ${names.get(o.parentId)}` : ""}
                        </span>
                      )}
                    </th>
                    <td>{nameOf(v?.types ?? [], o.typeId) || "—"}</td>
                    <td>{nameOf(v?.statuses ?? [], o.statusId) || "—"}</td>
                    <td>{nameOf(v?.users ?? [], o.defaultEngineerId) || "—"}</td>
                    <td>{nameOf(v?.users ?? [], o.defaultVcioId) || "—"}</td>
                    <td>
                      {o.state === "ORGANIZATION_STATE_INACTIVE" ? (
                        <span className="orgs-state orgs-state-inactive">Deactivated</span>
                      ) : (
                        <span className="orgs-state orgs-state-active">Active</span>
                      )}
                    </td>
                    <td className="orgs-date">
                      <time dateTime={o.createTime}>{clock.date(o.createTime)}</time>
                    </td>
                    <td className="orgs-date">
                      <time dateTime={o.updateTime}>{clock.date(o.updateTime)}</time>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <nav className="orgs-pager" aria-label="Pages">
            <Button className="button secondary small" isDisabled={pageIndex === 0 || list.loading} onPress={() => setTokens((t) => t.slice(0, -1))}>
              Previous page
            </Button>
            <span>
              {first + 1}–{first + orgs.length} of {total}
            </span>
            <Button
              className="button secondary small"
              isDisabled={!list.data?.nextPageToken || list.loading}
              onPress={() => {
                const next = list.data?.nextPageToken;
                if (next) setTokens((t) => [...t, next]);
              }}
            >
              Next page
            </Button>
            <div className="orgs-page-size">
              <OrgsCombo label="Page size" options={sizes} value={String(filters.pageSize)} onChange={set("pageSize")} />
            </div>
          </nav>
        </>
      )}
    </Page>
  );
}
