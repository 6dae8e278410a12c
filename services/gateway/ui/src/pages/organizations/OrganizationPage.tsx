import { useEffect, useId, useState } from "react";
import { Button, CheckboxGroup, FieldError, Form, Input, Label, Text, TextArea, TextField } from "react-aria-components";
import { Link, useLocation, useNavigate, useParams } from "react-router";
import { api, ApiError, call, errorMessage } from "../../api/client";
import { useClock, useSession } from "../../app/session";
import { Alert } from "../../components/Alert";
import { CheckboxField, SubmitButton, TextInput, fieldError, useApiForm } from "../../components/forms";
import { Loading } from "../../components/Loading";
import { Page } from "../../components/Page";
import { useDebounced } from "../../lib/useDebounced";
import { useLoad } from "../../lib/useLoad";
import { OrgsCombo } from "./Combo";
import { LifecycleSection } from "./Lifecycle";
import { checkLogo, loadVocabulary, placeErrors, readBase64, type Option, type Organization, type Vocabulary } from "./model";
import "./organizations.css";

/**
 * OrganizationPage creates an organization (/organizations/new) or shows and edits one
 * (/organizations/:organizationId), with its deactivation and deletion.
 */
export default function OrganizationPage() {
  const { organizationId } = useParams();
  const { accountId } = useSession();
  const location = useLocation();
  const notice = (location.state as { notice?: string } | null)?.notice;
  const vocab = useLoad((signal) => loadVocabulary(accountId, signal), [accountId]);
  const org = useLoad(
    async (signal): Promise<Organization | undefined> =>
      organizationId
        ? call(api.GET("/v1/accounts/{accountId}/organizations/{organizationId}", { params: { path: { accountId, organizationId } }, signal }))
        : undefined,
    [accountId, organizationId],
  );

  // Kept here, not in the form: a save gives the organization a new update time, which starts
  // the form afresh from what the API answered.
  const [saved, setSaved] = useState(false);
  const title = organizationId ? (org.data?.name ?? "Organization") : "New organization";
  let body;
  if (vocab.error || org.error) body = <Alert tone="error">{errorMessage(org.error ?? vocab.error)}</Alert>;
  else if (!vocab.data || (organizationId && !org.data)) body = <Loading label="Loading the organization" />;
  else
    body = (
      <>
        {notice && !saved && <Alert tone="success">{notice}</Alert>}
        {saved && <Alert tone="success">Saved.</Alert>}
        <OrganizationForm
          key={org.data?.updateTime ?? "new"}
          org={org.data}
          vocab={vocab.data}
          onVocabChanged={vocab.reload}
          onSaved={(o) => {
            org.setData(o);
            setSaved(true);
          }}
          onEdited={() => setSaved(false)}
        />
        {org.data && <LifecycleOrReadOnly org={org.data} onChanged={org.setData} />}
      </>
    );
  return <Page title={title}>{body}</Page>;
}

function LifecycleOrReadOnly({ org, onChanged }: { org: Organization; onChanged: (o: Organization) => void }) {
  const { can } = useSession();
  const clock = useClock();
  if (can("organizations:write")) return <LifecycleSection org={org} onChanged={onChanged} />;
  return (
    <p className="muted">
      {org.state === "ORGANIZATION_STATE_INACTIVE" ? `Deactivated on ${clock.date(org.deactivateTime)}.` : "Active."} Created{" "}
      {clock.date(org.createTime)}.
    </p>
  );
}

type Values = {
  name: string;
  typeId: string;
  statusId: string;
  parentId: string;
  defaultEngineerId: string;
  defaultVcioId: string;
  groupIds: string[];
  notes: string;
};

const valuesOf = (o: Organization | undefined): Values => ({
  name: o?.name ?? "",
  typeId: o?.typeId ?? "",
  statusId: o?.statusId ?? "",
  parentId: o?.parentId ?? "",
  defaultEngineerId: o?.defaultEngineerId ?? "",
  defaultVcioId: o?.defaultVcioId ?? "",
  groupIds: o?.groupIds ?? [],
  notes: o?.notes ?? "",
});

/** changed lists the fields of next that differ from before: what an update sends (its mask). */
function changed(before: Values, next: Values): Partial<Values> {
  const out: Partial<Values> = {};
  for (const k of Object.keys(next) as (keyof Values)[]) {
    const a = before[k];
    const b = next[k];
    const same = Array.isArray(a) && Array.isArray(b) ? a.length === b.length && a.every((x) => b.includes(x)) : a === b;
    if (!same) (out as Record<string, unknown>)[k] = b;
  }
  return out;
}

function OrganizationForm({
  org,
  vocab,
  onVocabChanged,
  onSaved,
  onEdited,
}: {
  org: Organization | undefined;
  vocab: Vocabulary;
  onVocabChanged: () => void;
  onSaved: (o: Organization) => void;
  onEdited: () => void;
}) {
  const { accountId, can } = useSession();
  const navigate = useNavigate();
  const form = useApiForm();
  const writable = can("organizations:write");
  const [v, setV] = useState<Values>(() => valuesOf(org));
  const [logo, setLogo] = useState<File>();
  const set = <K extends keyof Values>(k: K) => (x: Values[K]) => {
    onEdited();
    setV((cur) => ({ ...cur, [k]: x }));
  };

  const uploadLogo = async (organizationId: string, file: File) => {
    try {
      await call(
        api.PUT("/v1/accounts/{accountId}/organizations/{organizationId}/logo", {
          params: { path: { accountId, organizationId } },
          body: { data: await readBase64(file) },
        }),
      );
    } catch (e) {
      // The API names the image "data"; the page calls it the logo.
      if (e instanceof ApiError && e.fieldErrors.data) throw fieldError("logo", e.fieldErrors.data);
      throw e;
    }
  };

  const submit = async () => {
    if (logo) {
      const problem = checkLogo(logo);
      if (problem) throw fieldError("logo", problem);
    }
    if (!org) {
      let created: Organization;
      try {
        created = await call(api.POST("/v1/accounts/{accountId}/organizations", { params: { path: { accountId } }, body: { ...v } }));
      } catch (e) {
        throw placeErrors(e);
      }
      let notice = `${created.name} is created.`;
      if (logo) {
        try {
          await uploadLogo(created.id ?? "", logo);
        } catch (e) {
          notice = `${created.name} is created, but its logo was not saved: ${errorMessage(e)} Choose it again below.`;
        }
      }
      navigate(`/organizations/${created.id}`, { replace: true, state: { notice } });
      return;
    }
    const diff = changed(valuesOf(org), v);
    let next = org;
    if (Object.keys(diff).length > 0) {
      try {
        next = await call(
          api.PATCH("/v1/accounts/{accountId}/organizations/{organizationId}", {
            params: { path: { accountId, organizationId: org.id ?? "" } },
            body: diff,
          }),
        );
      } catch (e) {
        throw placeErrors(e);
      }
    }
    if (logo) {
      await uploadLogo(org.id ?? "", logo);
      next = await call(api.GET("/v1/accounts/{accountId}/organizations/{organizationId}", { params: { path: { accountId, organizationId: org.id ?? "" } } }));
    }
    setLogo(undefined);
    onSaved(next);
  };

  const users: Option[] = vocab.users;
  return (
    <Form className="form orgs-form" validationErrors={form.fieldErrors} onSubmit={form.onSubmit(submit)} aria-label="Organization">
      {form.error && <Alert tone="error">{form.error}</Alert>}
      <div className="orgs-form-grid">
        <div className="orgs-form-main">
          <TextInput
            name="organization.name"
            label="Name"
            isRequired
            isReadOnly={!writable}
            value={v.name}
            onChange={set("name")}
            description="Unique in the account."
          />
          <div className="orgs-two">
            <VocabCombo kind="type" label="Type" name="organization.typeId" options={vocab.types} value={v.typeId} onChange={set("typeId")} onAdded={onVocabChanged} />
            <VocabCombo
              kind="status"
              label="Status"
              name="organization.statusId"
              options={vocab.statuses}
              value={v.statusId}
              onChange={set("statusId")}
              onAdded={onVocabChanged}
            />
          </div>
          {vocab.usersReadable && (
            <div className="orgs-two">
              <OrgsCombo label="Engineer" name="organization.defaultEngineerId" options={users} value={v.defaultEngineerId} onChange={set("defaultEngineerId")} />
              <OrgsCombo label="vCIO" name="organization.defaultVcioId" options={users} value={v.defaultVcioId} onChange={set("defaultVcioId")} />
            </div>
          )}
          <ParentCombo self={org?.id} value={v.parentId} onChange={set("parentId")} />
          {vocab.groupsReadable && (
            <CheckboxGroup className="field orgs-groups" name="organization.groupIds" value={v.groupIds} onChange={set("groupIds")} isReadOnly={!writable}>
              <Label className="orgs-group-label">Groups</Label>
              <Text slot="description" className="field-description">
                Every organization is also in All Organizations.
              </Text>
              {vocab.groups.length === 0 ? (
                <p className="muted">The account has no groups yet.</p>
              ) : (
                <div className="orgs-group-list">
                  {vocab.groups.map((g) => (
                    <CheckboxField key={g.id} value={g.id}>
                      {g.name}
                    </CheckboxField>
                  ))}
                </div>
              )}
              <FieldError className="field-error" />
            </CheckboxGroup>
          )}
          <TextField className="field" name="organization.notes" value={v.notes} onChange={set("notes")} isReadOnly={!writable}>
            <Label>Notes</Label>
            <TextArea rows={4} />
            <FieldError className="field-error" />
          </TextField>
        </div>
        <LogoField org={org} file={logo} onFile={setLogo} error={form.fieldErrors.logo} readOnly={!writable} />
      </div>
      {writable && (
        <div className="orgs-form-actions">
          <SubmitButton isPending={form.pending}>{org ? "Save" : "Create organization"}</SubmitButton>
          <Link className="button secondary" to="/organizations">
            Cancel
          </Link>
        </div>
      )}
    </Form>
  );
}

/** VocabCombo picks a type or status, and lets those who may add one to the account's list. */
function VocabCombo({
  kind,
  label,
  name,
  options,
  value,
  onChange,
  onAdded,
}: {
  kind: "type" | "status";
  label: string;
  name: string;
  options: Option[];
  value: string;
  onChange: (id: string) => void;
  onAdded: () => void;
}) {
  const { accountId, can } = useSession();
  const [adding, setAdding] = useState(false);
  const [text, setText] = useState("");
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  const errorId = useId();
  const add = async () => {
    setPending(true);
    setError(undefined);
    try {
      const path = { accountId };
      const created =
        kind === "type"
          ? await call(api.POST("/v1/accounts/{accountId}/organizationTypes", { params: { path }, body: { name: text.trim() } }))
          : await call(api.POST("/v1/accounts/{accountId}/organizationStatuses", { params: { path }, body: { name: text.trim() } }));
      onAdded();
      onChange(created.id ?? "");
      setAdding(false);
      setText("");
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setPending(false);
    }
  };
  return (
    <div className="orgs-vocab">
      <OrgsCombo label={label} name={name} options={options} value={value} onChange={onChange} placeholder="None" />
      {can("organizations:write") &&
        (adding ? (
          <div className="orgs-vocab-add">
            <TextField className="field" value={text} onChange={setText} aria-describedby={error ? errorId : undefined} isInvalid={Boolean(error)}>
              <Label>New {kind}</Label>
              <Input
                onKeyDown={(e) => {
                  // Enter adds the entry rather than submitting the organization's form.
                  if (e.key === "Enter") {
                    e.preventDefault();
                    if (text.trim()) void add();
                  }
                }}
              />
            </TextField>
            {error && (
              <p id={errorId} className="field-error">
                {error}
              </p>
            )}
            <div className="orgs-inline-actions">
              <Button className="button small primary" isDisabled={!text.trim()} isPending={pending} onPress={() => void add()}>
                Add {kind}
              </Button>
              <Button className="button small secondary" onPress={() => setAdding(false)}>
                Cancel
              </Button>
            </div>
          </div>
        ) : (
          <Button className="link-button orgs-add-link" onPress={() => setAdding(true)}>
            Add a {kind}
          </Button>
        ))}
    </div>
  );
}

/** ParentCombo picks the parent organization, searching the account's organizations by name. */
function ParentCombo({ self, value, onChange }: { self: string | undefined; value: string; onChange: (id: string) => void }) {
  const { accountId } = useSession();
  const [text, setText] = useState<string | undefined>(undefined);
  const debounced = useDebounced(text ?? "", 200);
  const current = useLoad(
    async (signal) =>
      value
        ? call(api.GET("/v1/accounts/{accountId}/organizations/{organizationId}", { params: { path: { accountId, organizationId: value } }, signal }))
        : undefined,
    [accountId, value],
  );
  const results = useLoad(
    async (signal) => {
      const r = await call(
        api.GET("/v1/accounts/{accountId}/organizations", { params: { path: { accountId }, query: { query: debounced || undefined, pageSize: 20 } }, signal }),
      );
      return (r.organizations ?? []).filter((o) => o.id !== self).map((o): Option => ({ id: o.id ?? "", name: o.name ?? "" }));
    },
    [accountId, debounced, self],
  );
  const chosen: Option[] = current.data ? [{ id: current.data.id ?? "", name: current.data.name ?? "" }] : [];
  const items = results.data ?? [];
  const options = [...chosen, ...items.filter((o) => o.id !== value)];
  return (
    <OrgsCombo
      label="Parent organization"
      name="organization.parentId"
      options={options}
      items={items}
      inputValue={text ?? current.data?.name ?? ""}
      onInputChange={setText}
      isLoading={results.loading}
      value={value}
      onChange={(id) => {
        onChange(id);
        setText(id ? (options.find((o) => o.id === id)?.name ?? "") : "");
      }}
      placeholder="None: a top-level organization"
      description="Makes it a sub-organization of the one chosen."
    />
  );
}

/** LogoField chooses a logo and previews it; it is sent with the form. */
function LogoField({
  org,
  file,
  onFile,
  error,
  readOnly,
}: {
  org: Organization | undefined;
  file: File | undefined;
  onFile: (f: File | undefined) => void;
  error: string | undefined;
  readOnly: boolean;
}) {
  const { accountId } = useSession();
  const id = useId();
  const [local, setLocal] = useState<string>();
  const [preview, setPreview] = useState<string>();
  const [currentUrl, setCurrentUrl] = useState<string>();

  useEffect(() => {
    if (!org?.hasLogo || !org.id) return;
    const ctrl = new AbortController();
    let url: string | undefined;
    fetch(`/v1/accounts/${accountId}/organizations/${org.id}/logo`, { credentials: "same-origin", signal: ctrl.signal })
      .then((r) => (r.ok ? r.blob() : undefined))
      .then((b) => {
        if (b) {
          url = URL.createObjectURL(b);
          setCurrentUrl(url);
        }
      })
      .catch(() => undefined);
    return () => {
      ctrl.abort();
      if (url) URL.revokeObjectURL(url);
    };
  }, [accountId, org?.id, org?.hasLogo, org?.updateTime]);

  useEffect(() => {
    if (!file) {
      setPreview(undefined);
      return;
    }
    const url = URL.createObjectURL(file);
    setPreview(url);
    return () => URL.revokeObjectURL(url);
  }, [file]);

  const shown = error ?? local;
  return (
    <div className="field orgs-logo">
      <label htmlFor={id}>Logo</label>
      <div className="orgs-logo-box">
        {preview ? (
          <img src={preview} alt="Preview of the new logo" className="orgs-logo-img" />
        ) : currentUrl ? (
          <img src={currentUrl} alt={`Logo of ${org?.name ?? "the organization"}`} className="orgs-logo-img" />
        ) : (
          <span className="muted">No logo</span>
        )}
      </div>
      {!readOnly && (
        <input
          id={id}
          name="logo"
          type="file"
          className="orgs-file"
          accept="image/png,image/jpeg,image/svg+xml"
          aria-describedby={`${id}-hint${shown ? ` ${id}-error` : ""}`}
          aria-invalid={shown ? true : undefined}
          onChange={(e) => {
            const f = e.currentTarget.files?.[0];
            const problem = f ? checkLogo(f) : "";
            setLocal(problem || undefined);
            onFile(f && !problem ? f : undefined);
          }}
        />
      )}
      <span id={`${id}-hint`} className="field-description">
        PNG, JPEG or SVG, at most 2 MiB. Saved with the form.
      </span>
      {shown && (
        <span id={`${id}-error`} className="field-error">
          {shown}
        </span>
      )}
    </div>
  );
}
