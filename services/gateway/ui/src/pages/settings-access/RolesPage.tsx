import { useState } from "react";
import { Button, Form } from "react-aria-components";
import { api, call, errorMessage } from "../../api/client";
import { useSession } from "../../app/session";
import { Alert } from "../../components/Alert";
import { ConfirmButton } from "../../components/ConfirmButton";
import { EmptyState } from "../../components/EmptyState";
import { SubmitButton, TextInput, useApiForm } from "../../components/forms";
import { Loading } from "../../components/Loading";
import { Page } from "../../components/Page";
import { useLoad } from "../../lib/useLoad";
import { areas, isBuiltin, levelOf, levels, loadRoles, SettingsLinks, type Level, type Permissions, type Role } from "./common";
import "./access.css";

type Editing = { kind: "none" } | { kind: "new" } | { kind: "edit"; role: Role } | { kind: "view"; role: Role };

const builtinNote: Record<string, string> = {
  BUILTIN_ROLE_IT_PROVIDER_ADMIN: "Full access to everything.",
  BUILTIN_ROLE_VCIO: "Runs reviews and organizations; reads the rest.",
  BUILTIN_ROLE_ENGINEER: "Works on reviews; reads organizations.",
};

/**
 * RolesPage is Settings › Roles (/settings/roles): the built-in roles, which cannot change, and
 * the account's custom roles with their permission matrix (None, Read-only or Full per area),
 * which can be deleted once nobody holds them.
 */
export default function RolesPage() {
  const { accountId, can } = useSession();
  const roles = useLoad((signal) => loadRoles(accountId, signal), [accountId]);
  const [editing, setEditing] = useState<Editing>({ kind: "none" });
  const [notice, setNotice] = useState<string>();
  const writable = can("roles:write");

  let body;
  if (roles.loading && !roles.data) {
    body = <Loading label="Loading roles" />;
  } else if (roles.error) {
    body = <Alert tone="error">{errorMessage(roles.error)}</Alert>;
  } else {
    const all = roles.data ?? [];
    const custom = all.filter((r) => !isBuiltin(r));
    const row = (r: Role) => (
      <tr key={r.id}>
        <th scope="row">{r.name}</th>
        <td>{isBuiltin(r) ? (builtinNote[r.builtin ?? ""] ?? "Built-in role") : summary(r.permissions)}</td>
        <td className="actions">
          {!isBuiltin(r) && writable ? (
            <span role="group" aria-label={`Actions for the role ${r.name}`} className="access-row-actions">
              <Button
                className="button small secondary"
                aria-label={`Edit the role ${r.name}`}
                onPress={() => {
                  setNotice(undefined);
                  setEditing({ kind: "edit", role: r });
                }}
              >
                Edit
              </Button>
              <ConfirmButton
                label="Delete"
                title={`Delete the role ${r.name}?`}
                confirmLabel="Delete role"
                onConfirm={async () => {
                  setNotice(undefined);
                  // A role someone still holds is refused (409) with who holds it; the dialog
                  // shows that message and stays open.
                  await call(api.DELETE("/v1/accounts/{accountId}/roles/{roleId}", { params: { path: { accountId, roleId: r.id ?? "" } } }));
                  if (editing.kind !== "none" && editing.kind !== "new" && editing.role.id === r.id) setEditing({ kind: "none" });
                  setNotice(`The role ${r.name} is deleted.`);
                  roles.setData(all.filter((x) => x.id !== r.id));
                }}
              >
                <p>
                  Only a role nobody holds can be deleted: give its users another role and revoke its API keys first. This cannot be
                  undone.
                </p>
              </ConfirmButton>
            </span>
          ) : (
            <Button className="button small secondary" aria-label={`View the role ${r.name}`} onPress={() => setEditing({ kind: "view", role: r })}>
              View
            </Button>
          )}
        </td>
      </tr>
    );
    const table = (caption: string, list: Role[]) => (
      <div className="table-wrap">
        <table className="table">
          <caption className="visually-hidden">{caption}</caption>
          <thead>
            <tr>
              <th scope="col">Role</th>
              <th scope="col">What it may do</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>{list.map(row)}</tbody>
        </table>
      </div>
    );
    body = (
      <>
        <section className="section" aria-labelledby="builtin-title">
          <h2 id="builtin-title">Built-in roles</h2>
          <p className="muted">Every account has these; they cannot change.</p>
          {table("Built-in roles", all.filter(isBuiltin))}
        </section>
        <section className="section" aria-labelledby="custom-title">
          <div className="section-header">
            <h2 id="custom-title">Custom roles</h2>
            {writable && (
              <Button
                className="button primary"
                onPress={() => {
                  setNotice(undefined);
                  setEditing({ kind: "new" });
                }}
              >
                New role
              </Button>
            )}
          </div>
          {notice && <Alert tone="success">{notice}</Alert>}
          {custom.length ? (
            table("Custom roles", custom)
          ) : (
            <EmptyState title="No custom roles yet">
              <p>A custom role grants exactly the areas you choose, for people the built-in roles do not fit.</p>
            </EmptyState>
          )}
        </section>
        {editing.kind === "view" && (
          <section className="section" aria-labelledby="view-title">
            <div className="section-header">
              <h2 id="view-title">Permissions of {editing.role.name}</h2>
              <Button className="button secondary" onPress={() => setEditing({ kind: "none" })}>
                Close
              </Button>
            </div>
            <Matrix permissions={editing.role.permissions} roleName={editing.role.name ?? ""} />
          </section>
        )}
        {(editing.kind === "new" || editing.kind === "edit") && (
          <RoleEditor
            key={editing.kind === "edit" ? editing.role.id : "new"}
            role={editing.kind === "edit" ? editing.role : undefined}
            onCancel={() => setEditing({ kind: "none" })}
            onSaved={(r, created) => {
              setEditing({ kind: "none" });
              setNotice(created ? `The role ${r.name} is created.` : `The role ${r.name} is saved.`);
              roles.setData(created ? [...all, r] : all.map((x) => (x.id === r.id ? r : x)));
            }}
          />
        )}
      </>
    );
  }

  return (
    <Page title="Roles">
      <SettingsLinks current="/settings/roles" />
      {body}
    </Page>
  );
}

function summary(p: Permissions | undefined): string {
  const full = areas.filter((a) => levelOf(p, a.key) === "PERMISSION_LEVEL_FULL").map((a) => a.label);
  const read = areas.filter((a) => levelOf(p, a.key) === "PERMISSION_LEVEL_READ_ONLY").map((a) => a.label);
  const parts = [];
  if (full.length) parts.push(`Full: ${full.join(", ")}`);
  if (read.length) parts.push(`Read-only: ${read.join(", ")}`);
  return parts.join(". ") || "No access";
}

/**
 * Matrix is the permission matrix: one row per area, one column per level. Edited, each row is
 * a group of radio buttons (arrow keys move within it); read only, it says each row's level.
 */
function Matrix({
  permissions,
  roleName,
  onChange,
}: {
  permissions: Permissions | undefined;
  roleName: string;
  onChange?: (area: keyof Permissions, level: Level) => void;
}) {
  return (
    <div className="table-wrap">
      <table className="table access-matrix">
        <caption className="visually-hidden">What {roleName || "the role"} may do in each area</caption>
        <thead>
          <tr>
            <th scope="col">Area</th>
            {levels.map((l) => (
              <th scope="col" key={l.value}>
                {l.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {areas.map((a) => {
            const cur = levelOf(permissions, a.key);
            return (
              <tr key={a.key}>
                <th scope="row">{a.label}</th>
                {levels.map((l) => (
                  <td key={l.value}>
                    {onChange ? (
                      <label>
                        <input
                          type="radio"
                          name={`level-${a.key}`}
                          value={l.value}
                          checked={cur === l.value}
                          onChange={() => onChange(a.key, l.value)}
                          aria-label={`${a.label}: ${l.label}`}
                        />
                      </label>
                    ) : cur === l.value ? (
                      <span>
                        <span aria-hidden="true">●</span>
                        <span className="visually-hidden">{l.label}</span>
                      </span>
                    ) : null}
                  </td>
                ))}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function RoleEditor({ role, onCancel, onSaved }: { role: Role | undefined; onCancel: () => void; onSaved: (r: Role, created: boolean) => void }) {
  const { accountId } = useSession();
  const form = useApiForm();
  const [perms, setPerms] = useState<Permissions>(() => {
    const p: Permissions = {};
    for (const a of areas) p[a.key] = levelOf(role?.permissions, a.key);
    return p;
  });
  const title = role ? `Edit the role ${role.name}` : "New role";
  return (
    <section className="section" aria-labelledby="role-editor-title">
      <h2 id="role-editor-title">{title}</h2>
      <Form
        className="form"
        validationErrors={form.fieldErrors}
        onSubmit={form.onSubmit(async (v) => {
          const body = { name: (v.name ?? "").trim(), permissions: perms };
          const saved = role
            ? await call(api.PATCH("/v1/accounts/{accountId}/roles/{roleId}", { params: { path: { accountId, roleId: role.id ?? "" } }, body }))
            : await call(api.POST("/v1/accounts/{accountId}/roles", { params: { path: { accountId } }, body }));
          onSaved(saved, !role);
        })}
      >
        {form.error && <Alert tone="error">{form.error}</Alert>}
        <div className="form narrow">
          <TextInput name="name" label="Role name" defaultValue={role?.name ?? ""} isRequired autoFocus />
        </div>
        <p className="muted">
          Read-only lets people see an area; Full lets them change it too. You can grant at most what your own role holds.
        </p>
        <Matrix permissions={perms} roleName={role?.name ?? "the new role"} onChange={(area, level) => setPerms((p) => ({ ...p, [area]: level }))} />
        <div className="access-actions">
          <SubmitButton isPending={form.pending}>{role ? "Save role" : "Create role"}</SubmitButton>
          <Button className="button secondary" onPress={onCancel}>
            Cancel
          </Button>
        </div>
      </Form>
    </section>
  );
}
