import { useState } from "react";
import { Button, Input, Label, SearchField, Text } from "react-aria-components";
import { Link, useLocation } from "react-router";
import { api, call, errorMessage } from "../../api/client";
import { useSession } from "../../app/session";
import { Alert } from "../../components/Alert";
import { EmptyState } from "../../components/EmptyState";
import { Loading } from "../../components/Loading";
import { Page } from "../../components/Page";
import { useDebounced } from "../../lib/useDebounced";
import { useLoad } from "../../lib/useLoad";
import { fullName, loadRoles, roleName, SettingsLinks } from "./common";
import "./access.css";

const pageSize = 50;

/**
 * UsersPage is Settings › Users (/settings/users): the account's staff, a page at a time in the
 * API's order (last name, first name), narrowed as one types to those whose name or email holds
 * the search, each leading to its own page to edit, invite, reset two-step or deactivate.
 */
export default function UsersPage() {
  const { accountId, can } = useSession();
  const location = useLocation();
  const notice = (location.state as { notice?: string } | null)?.notice;
  const [query, setQuery] = useState("");
  const search = useDebounced(query.trim(), 250);
  // tokens[i] is the page token of page i; the first page has none. Tokens belong to the search
  // they were issued for: a new search starts again at the first page.
  const [paging, setPaging] = useState<{ search: string; tokens: string[] }>({ search, tokens: [""] });
  const tokens = paging.search === search ? paging.tokens : [""];
  const setTokens = (f: (t: string[]) => string[]) => setPaging({ search, tokens: f(tokens) });
  const pageToken = tokens[tokens.length - 1]!;
  const users = useLoad(
    (signal) =>
      call(
        api.GET("/v1/accounts/{accountId}/users", {
          params: { path: { accountId }, query: { pageSize, ...(pageToken ? { pageToken } : {}), ...(search ? { query: search } : {}) } },
          signal,
        }),
      ),
    [accountId, search, pageToken],
  );
  const roles = useLoad((signal) => (can("roles:read") ? loadRoles(accountId, signal) : Promise.resolve([])), [accountId]);

  let body;
  if (users.loading && !users.data) {
    body = <Loading label="Loading users" />;
  } else if (users.error) {
    body = <Alert tone="error">{errorMessage(users.error)}</Alert>;
  } else if (!users.data?.users?.length) {
    body = search ? (
      <EmptyState title={`No user’s name or email holds “${search}”`}>
        <p>Search by a part of a first name, a last name or an email address.</p>
      </EmptyState>
    ) : (
      <EmptyState title="No users yet" />
    );
  } else {
    const list = users.data.users;
    body = (
      <>
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">
              {search ? `Users whose name or email holds “${search}”, by last name` : "The account’s users by last name"}
            </caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Email</th>
                {can("roles:read") && <th scope="col">Role</th>}
                <th scope="col">Organizations</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {list.map((u) => (
                <tr key={u.id}>
                  <th scope="row">
                    <Link to={`/settings/users/${u.id}`}>{fullName(u)}</Link>
                  </th>
                  <td>{u.email}</td>
                  {can("roles:read") && <td>{roleName(roles.data, u.roleId)}</td>}
                  <td>{u.allOrganizations ? "All organizations" : `${u.groupIds?.length ?? 0} group(s)`}</td>
                  <td>{u.active ? "Active" : <span className="tag access-inactive">Deactivated</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {(tokens.length > 1 || users.data.nextPageToken) && (
          <nav className="access-pager" aria-label="Pages of users">
            <Button className="button small secondary" isDisabled={tokens.length === 1} onPress={() => setTokens((t) => t.slice(0, -1))}>
              Previous page
            </Button>
            <span>Page {tokens.length}</span>
            <Button
              className="button small secondary"
              isDisabled={!users.data.nextPageToken}
              onPress={() => setTokens((t) => [...t, users.data?.nextPageToken ?? ""])}
            >
              Next page
            </Button>
          </nav>
        )}
      </>
    );
  }

  return (
    <Page
      title="Users"
      actions={
        can("users:write") && (
          <Link className="button primary" to="/settings/users/new">
            Add user
          </Link>
        )
      }
    >
      <SettingsLinks current="/settings/users" />
      {notice && <Alert tone="success">{notice}</Alert>}
      <section className="section" aria-labelledby="users-title">
        <h2 id="users-title" className="visually-hidden">
          All users
        </h2>
        <SearchField className="field access-search" value={query} onChange={setQuery}>
          <Label>Search users</Label>
          <Input />
          <Text slot="description" className="field-description">
            By a part of the name or the email; the list narrows as you type.
          </Text>
        </SearchField>
        {body}
      </section>
    </Page>
  );
}
