import { useEffect, useState } from "react";
import { Button, Form } from "react-aria-components";
import { Link, useLocation, useNavigate, useParams } from "react-router";
import { api, ApiError, call, errorMessage, type Schemas } from "../../api/client";
import { useClock, useSession } from "../../app/session";
import { Alert } from "../../components/Alert";
import { ConfirmButton } from "../../components/ConfirmButton";
import { CheckboxField, SubmitButton, TextInput, useApiForm } from "../../components/forms";
import { Loading } from "../../components/Loading";
import { Page } from "../../components/Page";
import { useLoad } from "../../lib/useLoad";
import { fullName, loadRoles, RoleOptions, SelectField, SettingsLinks, type User } from "./common";
import "./access.css";

type Group = Schemas["v1Group"];

/**
 * UserPage is one user (/settings/users/:userId), or a new one (/settings/users/new): their
 * name, email, role and the organizations they see; and the invitation, two-step reset and
 * deactivation.
 */
export default function UserPage() {
  const { userId = "" } = useParams();
  const { accountId } = useSession();
  const isNew = userId === "new";
  const user = useLoad(
    (signal) =>
      isNew
        ? Promise.resolve(undefined)
        : call(api.GET("/v1/accounts/{accountId}/users/{userId}", { params: { path: { accountId, userId } }, signal })),
    [accountId, userId],
  );
  const title = isNew ? "Add user" : user.data ? fullName(user.data) : "User";
  let body;
  if (user.loading && !user.data) body = <Loading label="Loading the user" />;
  else if (user.error) body = <Alert tone="error">{errorMessage(user.error)}</Alert>;
  else
    body = (
      <>
        <UserForm key={user.data?.id ?? "new"} user={user.data} onSaved={user.setData} />
        {user.data && <UserActions user={user.data} onChanged={user.setData} />}
      </>
    );
  return (
    <Page title={title}>
      <SettingsLinks current="/settings/users" />
      <p>
        <Link to="/settings/users">All users</Link>
      </p>
      {body}
    </Page>
  );
}

function UserForm({ user, onSaved }: { user: User | undefined; onSaved: (u: User) => void }) {
  const { accountId, can, me } = useSession();
  const navigate = useNavigate();
  const location = useLocation();
  const form = useApiForm();
  const writable = can("users:write");
  const roles = useLoad((signal) => (can("roles:read") ? loadRoles(accountId, signal) : Promise.resolve([])), [accountId]);
  const groups = useLoad(
    async (signal): Promise<Group[]> =>
      can("groups:read")
        ? ((await call(api.GET("/v1/accounts/{accountId}/groups", { params: { path: { accountId }, query: { pageSize: 1000 } }, signal })))
            .groups ?? [])
        : [],
    [accountId],
  );
  const [roleId, setRoleId] = useState(user?.roleId ?? "");
  const [all, setAll] = useState(user ? Boolean(user.allOrganizations) : true);
  const [groupIds, setGroupIds] = useState<string[]>(user?.groupIds ?? []);
  const [saved, setSaved] = useState<string | undefined>((location.state as { notice?: string } | null)?.notice);
  const self = user?.id === me.user?.id;

  useEffect(() => {
    // A new user starts with the role the API would give them anyway: Engineer.
    if (!user && !roleId && roles.data) setRoleId(roles.data.find((r) => r.builtin === "BUILTIN_ROLE_ENGINEER")?.id ?? "");
  }, [roles.data]);

  const toggleGroup = (id: string, on: boolean) => setGroupIds((g) => (on ? [...g, id] : g.filter((x) => x !== id)));

  return (
    <section className="section" aria-labelledby="user-form-title">
      <h2 id="user-form-title">{user ? "Details" : "New user"}</h2>
      <Form
        className="form"
        validationErrors={form.fieldErrors}
        onSubmit={form.onSubmit(async (v) => {
          setSaved(undefined);
          const fields = {
            firstName: (v.firstName ?? "").trim(),
            lastName: (v.lastName ?? "").trim(),
            email: (v.email ?? "").trim(),
            roleId,
            allOrganizations: all,
            groupIds: all ? [] : groupIds,
          };
          if (!user) {
            const created = await call(api.POST("/v1/accounts/{accountId}/users", { params: { path: { accountId } }, body: fields }));
            navigate(`/settings/users/${created.id}`, {
              replace: true,
              state: { notice: `${fullName(created)} is added. Invite them below to let them set a password.` },
            });
            return;
          }
          // Only what changed is sent: the API names the fields to change from the body, and
          // refuses anyone's change to their own role or scope even when it is the same.
          const body: Partial<typeof fields> = {};
          if (fields.firstName !== (user.firstName ?? "")) body.firstName = fields.firstName;
          if (fields.lastName !== (user.lastName ?? "")) body.lastName = fields.lastName;
          if (fields.email !== (user.email ?? "")) body.email = fields.email;
          if (fields.roleId !== (user.roleId ?? "")) body.roleId = fields.roleId;
          const sameGroups = [...(user.groupIds ?? [])].sort().join() === [...fields.groupIds].sort().join();
          if (fields.allOrganizations !== Boolean(user.allOrganizations) || (!fields.allOrganizations && !sameGroups)) {
            body.allOrganizations = fields.allOrganizations;
            body.groupIds = fields.groupIds;
          }
          if (Object.keys(body).length === 0) {
            setSaved("Nothing changed.");
            return;
          }
          onSaved(
            await call(api.PATCH("/v1/accounts/{accountId}/users/{userId}", { params: { path: { accountId, userId: user.id ?? "" } }, body })).catch(
              (e: unknown) => {
                // A role above the caller's own is refused without naming a field; when only the
                // role changed, that refusal is about the Role field and shows there.
                const roleOnly = body.roleId !== undefined && body.allOrganizations === undefined;
                if (e instanceof ApiError && e.reason === "GRANT_EXCEEDS_CALLER" && roleOnly) {
                  throw new ApiError(e.message, { status: e.status, code: e.code, reason: e.reason, fieldErrors: { roleId: e.message } });
                }
                throw e;
              },
            ),
          );
          setSaved("The user is saved.");
        })}
      >
        {saved && <Alert tone="success">{saved}</Alert>}
        {form.error && <Alert tone="error">{form.error}</Alert>}
        <div className="access-two-col">
          <TextInput name="firstName" label="First name" defaultValue={user?.firstName ?? ""} isRequired isReadOnly={!writable} />
          <TextInput name="lastName" label="Last name" defaultValue={user?.lastName ?? ""} isRequired isReadOnly={!writable} />
        </div>
        <TextInput name="email" label="Email" type="email" defaultValue={user?.email ?? ""} isRequired isReadOnly={!writable} />
        {can("roles:read") && (
          <SelectField
            name="roleId"
            label="Role"
            value={roleId}
            onChange={setRoleId}
            error={form.fieldErrors.roleId}
            description={self ? "You cannot change your own role or organizations; another administrator can." : undefined}
          >
            {!roleId && <option value="">Choose a role</option>}
            <RoleOptions roles={roles.data ?? []} />
          </SelectField>
        )}
        <fieldset className="access-checks">
          <legend>Organizations they see</legend>
          <CheckboxField isSelected={all} onChange={setAll} isDisabled={!writable}>
            All organizations
          </CheckboxField>
          {!all &&
            (groups.loading ? (
              <Loading label="Loading groups" />
            ) : groups.data?.length ? (
              groups.data.map((g) => (
                <CheckboxField
                  key={g.id}
                  isSelected={groupIds.includes(g.id ?? "")}
                  onChange={(on) => toggleGroup(g.id ?? "", on)}
                  isDisabled={!writable}
                >
                  Organizations of the group {g.name}
                  {g.archived ? " (archived)" : ""}
                </CheckboxField>
              ))
            ) : (
              <p className="muted">The account has no groups yet: this user sees no organizations until they are in one.</p>
            ))}
          {form.fieldErrors.groupIds && <p className="field-error">{form.fieldErrors.groupIds}</p>}
        </fieldset>
        {writable && <SubmitButton isPending={form.pending}>{user ? "Save user" : "Add user"}</SubmitButton>}
      </Form>
    </section>
  );
}

function UserActions({ user, onChanged }: { user: User; onChanged: (u: User) => void }) {
  const { accountId, can, me } = useSession();
  const clock = useClock();
  const [notice, setNotice] = useState<{ tone: "success" | "error"; text: string }>();
  const [inviting, setInviting] = useState(false);
  const [reactivating, setReactivating] = useState(false);
  if (!can("users:write")) return null;
  const path = { params: { path: { accountId, userId: user.id ?? "" } } };
  const self = user.id === me.user?.id;

  const invite = async () => {
    setInviting(true);
    setNotice(undefined);
    try {
      const inv = await call(api.POST("/v1/accounts/{accountId}/users/{userId}:invite", { ...path, body: {} }));
      setNotice({ tone: "success", text: `Invitation sent to ${inv.email}. Its link works until ${clock.dateTime(inv.expireTime)}.` });
    } catch (e) {
      setNotice({ tone: "error", text: errorMessage(e) });
    } finally {
      setInviting(false);
    }
  };

  const setActive = async (active: boolean) => {
    onChanged(await call(api.PATCH("/v1/accounts/{accountId}/users/{userId}", { ...path, body: { setActive: active } })));
    setNotice({ tone: "success", text: active ? "The user is active again." : "The user is deactivated." });
  };

  return (
    <section className="section" aria-labelledby="user-actions-title">
      <h2 id="user-actions-title">Sign-in and status</h2>
      {notice && <Alert tone={notice.tone}>{notice.text}</Alert>}
      {!user.active && <Alert tone="warning">This user is deactivated: they cannot sign in and get no email.</Alert>}
      <div className="subsections">
        {user.active && (
          <div>
            <h3>Invitation</h3>
            <p className="muted">Emails {user.email} a link to set their password. Inviting again replaces the previous link.</p>
            <Button className="button secondary" onPress={() => void invite()} isPending={inviting}>
              Send invitation
            </Button>
          </div>
        )}
        {!self && (
          <div>
            <h3>Two-step verification</h3>
            <p className="muted">For someone who lost their authenticator app and recovery codes.</p>
            <ConfirmButton
              label="Reset two-step verification"
              title={`Reset two-step verification of ${fullName(user)}?`}
              confirmLabel="Reset"
              onConfirm={async () => {
                setNotice(undefined);
                await call(api.POST("/v1/accounts/{accountId}/users/{userId}:resetTwoStep", { ...path, body: {} }));
                setNotice({ tone: "success", text: "Two-step verification is reset and their sessions are closed." });
              }}
            >
              <p>
                Their authenticator and recovery codes stop working and their sessions close. If the account requires two-step
                verification, they set it up again at their next sign-in.
              </p>
            </ConfirmButton>
          </div>
        )}
        {!self && (
          <div>
            <h3>Status</h3>
            {user.active ? (
              <>
                <p className="muted">A deactivated user cannot sign in and gets no email. You can reactivate them later.</p>
                <ConfirmButton
                  label="Deactivate user"
                  title={`Deactivate ${fullName(user)}?`}
                  confirmLabel="Deactivate"
                  onConfirm={() => setActive(false)}
                >
                  <p>They are signed out everywhere and cannot sign in until reactivated.</p>
                </ConfirmButton>
              </>
            ) : (
              <Button
                className="button primary"
                isPending={reactivating}
                onPress={() => {
                  setReactivating(true);
                  setActive(true)
                    .catch((e: unknown) => setNotice({ tone: "error", text: errorMessage(e) }))
                    .finally(() => setReactivating(false));
                }}
              >
                Reactivate user
              </Button>
            )}
          </div>
        )}
      </div>
    </section>
  );
}
