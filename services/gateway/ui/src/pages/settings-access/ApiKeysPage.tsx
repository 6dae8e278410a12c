import { useState } from "react";
import { Button, Form } from "react-aria-components";
import { api, call, errorMessage, type Schemas } from "../../api/client";
import { useClock, useSession } from "../../app/session";
import { Alert } from "../../components/Alert";
import { ConfirmButton } from "../../components/ConfirmButton";
import { EmptyState } from "../../components/EmptyState";
import { SubmitButton, TextInput, useApiForm } from "../../components/forms";
import { Loading } from "../../components/Loading";
import { Page } from "../../components/Page";
import { useLoad } from "../../lib/useLoad";
import { CopyButton, fullName, loadRoles, loadUsers, RoleOptions, roleName, SelectField, SettingsLinks } from "./common";
import "./access.css";

type ApiKey = Schemas["v1ApiKey"];

/**
 * ApiKeysPage is Settings › API keys (/settings/api-keys): the keys scripts and integrations use,
 * a new key's secret shown once, and revocation.
 */
export default function ApiKeysPage() {
  const { accountId, can } = useSession();
  const clock = useClock();
  const writable = can("api_keys:write");
  const keys = useLoad(
    (signal) => call(api.GET("/v1/accounts/{accountId}/apiKeys", { params: { path: { accountId }, query: { pageSize: 1000 } }, signal })),
    [accountId],
  );
  const roles = useLoad((signal) => (can("roles:read") ? loadRoles(accountId, signal) : Promise.resolve([])), [accountId]);
  const users = useLoad((signal) => (can("users:read") ? loadUsers(accountId, signal) : Promise.resolve([])), [accountId]);
  const [creating, setCreating] = useState(false);
  // The new key's secret lives only here, in memory, until the person closes the panel.
  const [created, setCreated] = useState<{ name: string; secret: string }>();
  const [notice, setNotice] = useState<string>();

  const userName = (id: string | undefined) => (id ? fullName(users.data?.find((u) => u.id === id)) : "Nobody: sees every organization");

  let body;
  if (keys.loading && !keys.data) {
    body = <Loading label="Loading API keys" />;
  } else if (keys.error) {
    body = <Alert tone="error">{errorMessage(keys.error)}</Alert>;
  } else if (!keys.data?.apiKeys?.length) {
    body = <EmptyState title="No API keys yet">{writable && <p>Create one for a script or an integration to call the API.</p>}</EmptyState>;
  } else {
    body = (
      <div className="table-wrap">
        <table className="table">
          <caption className="visually-hidden">API keys, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Starts with</th>
              {can("roles:read") && <th scope="col">Role</th>}
              <th scope="col">Acts as</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {keys.data.apiKeys.map((k: ApiKey) => (
              <tr key={k.id}>
                <th scope="row">{k.name}</th>
                <td>
                  <code>{k.prefix}…</code>
                </td>
                {can("roles:read") && <td>{k.roleId ? roleName(roles.data, k.roleId) : "Deleted role"}</td>}
                <td>{userName(k.userId)}</td>
                <td>{clock.dateTime(k.createTime)}</td>
                <td>{k.lastUseTime ? clock.dateTime(k.lastUseTime) : "Never"}</td>
                <td className="actions">
                  {k.revokeTime ? (
                    <span className="tag access-inactive">Revoked {clock.date(k.revokeTime)}</span>
                  ) : writable ? (
                    <span role="group" aria-label={`Actions for ${k.name}`}>
                    <ConfirmButton
                      label="Revoke"
                      title={`Revoke the API key ${k.name}?`}
                      confirmLabel="Revoke"
                      onConfirm={async () => {
                        setNotice(undefined);
                        await call(
                          api.POST("/v1/accounts/{accountId}/apiKeys/{apiKeyId}:revoke", { params: { path: { accountId, apiKeyId: k.id ?? "" } }, body: {} }),
                        );
                        setNotice(`The API key ${k.name} is revoked.`);
                        keys.reload();
                      }}
                    >
                      <p>Whatever uses this key stops working at once. This cannot be undone.</p>
                    </ConfirmButton>
                    </span>
                  ) : (
                    "Active"
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    );
  }

  return (
    <Page
      title="API keys"
      actions={
        writable &&
        !creating &&
        !created && (
          <Button
            className="button primary"
            onPress={() => {
              setNotice(undefined);
              setCreating(true);
            }}
          >
            Create API key
          </Button>
        )
      }
    >
      <SettingsLinks current="/settings/api-keys" />
      {created && (
        <section className="section access-secret" aria-labelledby="secret-title">
          <h2 id="secret-title">Copy the key {created.name} now</h2>
          <p>
            <strong>You will not see this key again.</strong> Store it where the script or integration reads it, such as a secret
            manager. If it is lost, revoke it and create another.
          </p>
          <TextInput name="secret" label="The new API key" value={created.secret} isReadOnly className="access-secret-field" />
          <div className="access-actions">
            <CopyButton text={created.secret} label="Copy the key" />
            <Button className="button primary" onPress={() => setCreated(undefined)}>
              Done, I have stored it
            </Button>
          </div>
        </section>
      )}
      {creating && (
        <CreateKey
          roles={roles.data ?? []}
          users={users.data ?? []}
          onCancel={() => setCreating(false)}
          onCreated={(name, secret) => {
            setCreating(false);
            setCreated({ name, secret });
            keys.reload();
          }}
        />
      )}
      {notice && <Alert tone="success">{notice}</Alert>}
      <section className="section" aria-labelledby="keys-title">
        <h2 id="keys-title" className="visually-hidden">
          All API keys
        </h2>
        {body}
      </section>
    </Page>
  );
}

function CreateKey({
  roles,
  users,
  onCancel,
  onCreated,
}: {
  roles: Schemas["v1Role"][];
  users: Schemas["v1User"][];
  onCancel: () => void;
  onCreated: (name: string, secret: string) => void;
}) {
  const { accountId } = useSession();
  const form = useApiForm();
  const [roleId, setRoleId] = useState("");
  const [userId, setUserId] = useState("");
  return (
    <section className="section" aria-labelledby="create-key-title">
      <h2 id="create-key-title">New API key</h2>
      <Form
        className="form narrow"
        validationErrors={form.fieldErrors}
        onSubmit={form.onSubmit(async (v) => {
          const r = await call(
            api.POST("/v1/accounts/{accountId}/apiKeys", {
              params: { path: { accountId } },
              body: { name: (v.name ?? "").trim(), roleId, ...(userId ? { userId } : {}) },
            }),
          );
          onCreated(r.apiKey?.name ?? "", r.secret ?? "");
        })}
      >
        {form.error && <Alert tone="error">{form.error}</Alert>}
        <TextInput name="name" label="Name" isRequired autoFocus description="What uses it, such as “PSA sync script”." />
        <SelectField name="roleId" label="Role" value={roleId} onChange={setRoleId} error={form.fieldErrors.roleId} isRequired>
          <option value="">Choose a role</option>
          <RoleOptions roles={roles} />
        </SelectField>
        <SelectField
          name="userId"
          label="Acts as"
          value={userId}
          onChange={setUserId}
          error={form.fieldErrors.userId}
          description="The user whose organization groups limit what the key sees; nobody for a key that sees every organization."
        >
          <option value="">Nobody (every organization)</option>
          {users
            .filter((u) => u.active)
            .map((u) => (
              <option key={u.id} value={u.id}>
                {fullName(u)} ({u.email})
              </option>
            ))}
        </SelectField>
        <div className="access-actions">
          <SubmitButton isPending={form.pending}>Create API key</SubmitButton>
          <Button className="button secondary" onPress={onCancel}>
            Cancel
          </Button>
        </div>
      </Form>
    </section>
  );
}
