import { useEffect, useState } from "react";
import { Button, Form } from "react-aria-components";
import { api, ApiError, call, errorMessage, type Schemas } from "../../api/client";
import { useClock, useSession } from "../../app/session";
import { Alert } from "../../components/Alert";
import { ConfirmButton } from "../../components/ConfirmButton";
import { CheckboxField, SubmitButton, TextInput, useApiForm } from "../../components/forms";
import { Loading } from "../../components/Loading";
import { Page } from "../../components/Page";
import { useLoad, type Loaded } from "../../lib/useLoad";
import { CopyButton, loadRoles, RoleOptions, SelectField, SettingsLinks } from "./common";
import "./access.css";

type Provider = Schemas["v1SingleSignOnProvider"];

/**
 * SecurityPage is Settings › Security (/settings/security): what every sign-in to the account
 * must use (two-step verification, single sign-on) and the account's identity provider.
 */
export default function SecurityPage() {
  const { accountId } = useSession();
  // The provider is read here, for both sections: requiring single sign-on needs one.
  const provider = useLoad(async (signal) => {
    try {
      return await call(api.GET("/v1/accounts/{accountId}/singleSignOnProvider", { params: { path: { accountId } }, signal }));
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    }
  }, [accountId]);
  return (
    <Page title="Security">
      <SettingsLinks current="/settings/security" />
      <RequirementsSection hasProvider={Boolean(provider.data)} />
      <ProviderSection provider={provider} />
    </Page>
  );
}

function RequirementsSection({ hasProvider }: { hasProvider: boolean }) {
  const { accountId, can, reload } = useSession();
  const path = { params: { path: { accountId } } };
  const settings = useLoad((signal) => call(api.GET("/v1/accounts/{accountId}/settings", { ...path, signal })), [accountId]);
  const [twoStep, setTwoStep] = useState(false);
  const [sso, setSso] = useState(false);
  const [saving, setSaving] = useState(false);
  const [result, setResult] = useState<{ tone: "success" | "error"; text: string }>();
  const [ssoError, setSsoError] = useState<string>();
  const writable = can("account_settings:write");

  useEffect(() => {
    setTwoStep(Boolean(settings.data?.requireTwoStepVerification));
    setSso(Boolean(settings.data?.requireSingleSignOn));
  }, [settings.data]);

  if (settings.loading && !settings.data) return <Loading label="Loading the sign-in requirements" />;
  if (settings.error) return <Alert tone="error">{errorMessage(settings.error)}</Alert>;
  const cur = settings.data!;
  const stricter = (twoStep && !cur.requireTwoStepVerification) || (sso && !cur.requireSingleSignOn);
  const changed = twoStep !== Boolean(cur.requireTwoStepVerification) || sso !== Boolean(cur.requireSingleSignOn);

  const save = async () => {
    setSaving(true);
    setResult(undefined);
    setSsoError(undefined);
    try {
      const saved = await call(
        api.PATCH("/v1/accounts/{accountId}/settings", {
          ...path,
          body: { requireTwoStepVerification: twoStep, requireSingleSignOn: sso },
        }),
      );
      settings.setData(saved);
      setResult({ tone: "success", text: "The sign-in requirements are saved." });
      // The change may have ended this very session; reading the session again finds out (and
      // a 401 takes the browser to sign-in).
      await reload();
    } catch (e) {
      // The API names the setting it refuses in the message ("require_single_sign_on: ..."):
      // the refusal to require single sign-on without a provider shows at that checkbox.
      if (e instanceof ApiError && (e.reason.startsWith("SINGLE_SIGN_ON") || e.fieldErrors.requireSingleSignOn)) {
        setSsoError(e.fieldErrors.requireSingleSignOn ?? e.message);
      } else {
        setResult({ tone: "error", text: errorMessage(e) });
      }
    } finally {
      setSaving(false);
    }
  };

  return (
    <section className="section" aria-labelledby="requirements-title">
      <h2 id="requirements-title">Sign-in requirements</h2>
      <p className="muted">What everyone in the account must use to sign in. Changing them applies at once to every open session.</p>
      <div className="form">
        <CheckboxField isSelected={twoStep} onChange={setTwoStep} isDisabled={!writable}>
          Require two-step verification (people without it set it up at their next sign-in)
        </CheckboxField>
        <div>
          <CheckboxField
            isSelected={sso}
            onChange={(v) => {
              setSso(v);
              setSsoError(undefined);
            }}
            isDisabled={!writable}
            aria-describedby={ssoError ? "require-sso-error" : "require-sso-help"}
          >
            Require single sign-on (password sign-in stays only as an administrator&apos;s recorded break-glass)
          </CheckboxField>
          {ssoError ? (
            <p id="require-sso-error" className="field-error" role="alert">
              {ssoError}
            </p>
          ) : (
            <p id="require-sso-help" className="field-description">
              {hasProvider ? "Uses the identity provider below." : "Set up the identity provider below first."}
            </p>
          )}
        </div>
        {result && <Alert tone={result.tone}>{result.text}</Alert>}
        {writable && (
          <div className="access-actions">
            {stricter ? (
              <ConfirmButton
                label="Save requirements"
                title="Apply the stricter requirements?"
                confirmLabel="Save and apply"
                tone="primary"
                onConfirm={save}
              >
                <p>
                  Every open session that does not meet them ends now, this one included if you signed in without them. People
                  then sign in again as the account requires.
                </p>
              </ConfirmButton>
            ) : (
              <Button className="button primary" onPress={() => void save()} isPending={saving} isDisabled={!changed}>
                Save requirements
              </Button>
            )}
          </div>
        )}
      </div>
    </section>
  );
}

function ProviderSection({ provider }: { provider: Loaded<Provider | null> }) {
  const { accountId, can } = useSession();
  const clock = useClock();
  const writable = can("account_settings:write");
  const roles = useLoad((signal) => (can("roles:read") ? loadRoles(accountId, signal) : Promise.resolve([])), [accountId]);
  const form = useApiForm();
  const [createUsers, setCreateUsers] = useState(false);
  const [defaultRoleId, setDefaultRoleId] = useState("");
  const [saved, setSaved] = useState<string>();
  const [round, setRound] = useState(0);
  const p = provider.data;

  useEffect(() => {
    setCreateUsers(Boolean(p?.createUsers));
    setDefaultRoleId(p?.defaultRoleId ?? "");
  }, [p]);

  let body;
  if (provider.loading && provider.data === undefined) {
    body = <Loading label="Loading the identity provider" />;
  } else if (provider.error) {
    body = <Alert tone="error">{errorMessage(provider.error)}</Alert>;
  } else {
    body = (
      <>
        {p ? (
          <>
            <p>
              People sign in through <strong>{p.issuer}</strong>. Last changed {clock.dateTime(p.updateTime)}.
            </p>
            <p className="muted">Register this address at the identity provider as the application&apos;s redirect (callback) URI.</p>
            <div className="access-uri">
              <TextInput name="redirectUri" label="Redirect URI" value={p.redirectUri ?? ""} isReadOnly className="access-uri-field" />
              <CopyButton text={p.redirectUri ?? ""} label="Copy the redirect URI" />
            </div>
          </>
        ) : (
          <p>
            No identity provider is set up: people sign in with their passwords. Add your OpenID Connect provider (Microsoft Entra
            ID, Okta, Google Workspace, ...) to let them sign in through it. Once it is saved, this page shows the redirect URI to
            register there.
          </p>
        )}
        {saved && <Alert tone="success">{saved}</Alert>}
        {writable && (
          <Form
            key={round}
            className="form narrow"
            aria-labelledby="provider-form-title"
            validationErrors={form.fieldErrors}
            onSubmit={form.onSubmit(async (v) => {
              setSaved(undefined);
              const next = await call(
                api.PUT("/v1/accounts/{accountId}/singleSignOnProvider", {
                  params: { path: { accountId } },
                  body: {
                    issuer: (v.issuer ?? "").trim(),
                    clientId: (v.clientId ?? "").trim(),
                    clientSecret: v.clientSecret ?? "",
                    createUsers,
                    defaultRoleId: createUsers ? defaultRoleId : "",
                  },
                }),
              );
              provider.setData(next);
              setRound((r) => r + 1); // the secret field empties
              setSaved("The identity provider is saved.");
            })}
          >
            <h3 id="provider-form-title">{p ? "Change the identity provider" : "Set up an identity provider"}</h3>
            {form.error && <Alert tone="error">{form.error}</Alert>}
            <TextInput
              name="issuer"
              label="Issuer URL"
              type="url"
              isRequired
              defaultValue={p?.issuer ?? ""}
              description="As in the provider's discovery document, such as https://login.example.com. Orgplane reads that document to check it."
            />
            <TextInput name="clientId" label="Client ID" isRequired defaultValue={p?.clientId ?? ""} />
            <TextInput
              name="clientSecret"
              label="Client secret"
              type="password"
              autoComplete="off"
              isRequired={!p?.hasClientSecret}
              description={
                p?.hasClientSecret
                  ? "A secret is stored (encrypted; it is never shown). Leave this empty to keep it."
                  : "Stored encrypted and never shown again."
              }
            />
            <CheckboxField isSelected={createUsers} onChange={setCreateUsers}>
              Create a user on their first sign-in when no user has their email
            </CheckboxField>
            {createUsers && (
              <SelectField
                name="defaultRoleId"
                label="Role of users created this way"
                value={defaultRoleId}
                onChange={setDefaultRoleId}
                error={form.fieldErrors.defaultRoleId}
                isRequired
              >
                <option value="">Choose a role</option>
                <RoleOptions roles={roles.data ?? []} />
              </SelectField>
            )}
            <SubmitButton isPending={form.pending}>{p ? "Save the identity provider" : "Set up the identity provider"}</SubmitButton>
          </Form>
        )}
        {writable && p && (
          <div className="access-actions">
            <ConfirmButton
              label="Remove the identity provider"
              title="Remove the identity provider?"
              confirmLabel="Remove"
              onConfirm={async () => {
                await call(api.DELETE("/v1/accounts/{accountId}/singleSignOnProvider", { params: { path: { accountId } } }));
                setSaved(undefined);
                provider.setData(null);
                setRound((r) => r + 1);
              }}
            >
              <p>People can no longer sign in through {p.issuer}. Those without an Orgplane password need an invitation to set one.</p>
            </ConfirmButton>
          </div>
        )}
      </>
    );
  }
  return (
    <section className="section" aria-labelledby="provider-title">
      <h2 id="provider-title">Single sign-on</h2>
      {body}
    </section>
  );
}
