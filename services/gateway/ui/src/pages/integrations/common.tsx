import { useEffect, useRef, useState } from "react";
import { Form, ProgressBar } from "react-aria-components";
import { api, call, errorMessage, type Schemas } from "../../api/client";
import { useClock, useSession } from "../../app/session";
import { Alert } from "../../components/Alert";
import { SubmitButton, TextInput, useApiForm } from "../../components/forms";

export type Integration = Schemas["v1Integration"];
export type Kind = Schemas["v1IntegrationKind"];
export type Operation = Schemas["integrationsyncV1Operation"];

/** stateLabel is an integration's state in words, with the tone its badge takes. */
export function stateLabel(i: Integration): { text: string; tone: "ok" | "warn" | "bad" } {
  if (i.paused) return { text: "Paused", tone: "warn" };
  switch (i.state) {
    case "INTEGRATION_STATE_CONNECTED":
      return { text: "Connected", tone: "ok" };
    case "INTEGRATION_STATE_CREDENTIALS_REJECTED":
      return { text: "Credentials rejected", tone: "bad" };
    default:
      return { text: "Not tested yet", tone: "warn" };
  }
}

export function StateBadge({ integration }: { integration: Integration }) {
  const s = stateLabel(integration);
  return <span className={`integrations-state integrations-state-${s.tone}`}>{s.text}</span>;
}

// The kinds describe their fields by API name; people read these names instead. A field this
// list does not know (a fifth kind) is spelled out from its name.
const fieldLabels: Record<string, string> = {
  apiKey: "API key",
  region: "Region",
  site: "Site",
  companyId: "Company ID",
  publicKey: "Public key",
  privateKey: "Private key",
  clientId: "Client ID",
  webhookSecret: "Webhook secret",
  apiUser: "API user",
  secret: "Secret",
  integrationCode: "Integration code",
  authValue: "Authorization value",
  listUrl: "List URL",
  authHeader: "Authorization header",
  itemsPath: "Items path",
  idPath: "ID path",
  namePath: "Name path",
  parentIdPath: "Parent ID path",
  updatedAtPath: "Updated-at path",
  activePath: "Active path",
  pageParam: "Page parameter",
  pageSizeParam: "Page size parameter",
  pageSize: "Page size",
};

export function fieldLabel(name: string): string {
  if (fieldLabels[name]) return fieldLabels[name];
  const words = name.replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** windowText says a budget window ("300s") the way people do ("5 minutes"). */
export function windowText(window: string | undefined): string {
  const seconds = Number.parseFloat((window ?? "").replace(/s$/, ""));
  if (!Number.isFinite(seconds) || seconds <= 0) return "—";
  if (seconds % 3600 === 0) return seconds === 3600 ? "hour" : `${seconds / 3600} hours`;
  if (seconds % 60 === 0) return seconds === 60 ? "minute" : `${seconds / 60} minutes`;
  return `${seconds} seconds`;
}

export function policyText(p: Schemas["v1RateBudgetPolicy"] | undefined): string {
  if (!p?.requests) return "—";
  const base = `${p.requests.toLocaleString("en-US")} requests per ${windowText(p.window)}`;
  return p.concurrency ? `${base}, ${p.concurrency} at once` : base;
}

/** Budget shows what is spent of an integration's rate budget, shared by every replica. */
export function Budget({ integration }: { integration: Integration }) {
  const clock = useClock();
  const b = integration.budget;
  if (!b?.policy) return <>—</>;
  const used = b.used ?? 0;
  return (
    <>
      {used.toLocaleString("en-US")} used, {(b.remaining ?? 0).toLocaleString("en-US")} left of {policyText(b.policy)}
      {b.resetTime && used > 0 && <> (frees from {clock.dateTime(b.resetTime)})</>}
      {b.blockedUntil && <> · the tool asked to wait until {clock.dateTime(b.blockedUntil)}</>}
    </>
  );
}

/** operationDone is whether an operation has ended. */
export const operationDone = (op: Operation | undefined) => Boolean(op?.state && op.state !== "OPERATION_STATE_RUNNING");

/**
 * useOperation follows an operation until it ends: it reads it again every second while it runs
 * and calls onEnd once with the ended operation.
 */
export function useOperation(operationId: string | undefined, onEnd: (op: Operation) => void) {
  const { accountId } = useSession();
  const [op, setOp] = useState<Operation>();
  const [error, setError] = useState<unknown>();
  const ended = useRef(onEnd);
  ended.current = onEnd;
  useEffect(() => {
    setOp(undefined);
    setError(undefined);
    if (!operationId) return;
    const ctrl = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const o = await call(
          api.GET("/v1/accounts/{accountId}/operations/{operationId}", { params: { path: { accountId, operationId } }, signal: ctrl.signal }),
        );
        if (ctrl.signal.aborted) return;
        setOp(o);
        if (operationDone(o)) {
          ended.current(o);
          return;
        }
      } catch (e) {
        if (ctrl.signal.aborted) return;
        setError(e);
        return;
      }
      timer = setTimeout(() => void poll(), 1000);
    };
    void poll();
    return () => {
      ctrl.abort();
      if (timer) clearTimeout(timer);
    };
  }, [accountId, operationId]);
  return { op, error };
}

/** RefreshProgress shows how far a running refresh is. */
export function RefreshProgress({ op, name }: { op: Operation | undefined; name: string }) {
  const p = op?.progress;
  const done = p?.itemsDone ?? 0;
  const total = p?.itemsTotal ?? 0;
  const text = total > 0 ? `${done.toLocaleString("en-US")} of ${total.toLocaleString("en-US")} organizations read` : `${done.toLocaleString("en-US")} organizations read`;
  return (
    <ProgressBar
      className="integrations-progress"
      aria-label={`Refreshing ${name}`}
      value={total > 0 ? done : undefined}
      maxValue={total > 0 ? total : undefined}
      isIndeterminate={total === 0}
      valueLabel={text}
    >
      {({ percentage }) => (
        <>
          <span className="integrations-progress-label">
            Refreshing: {text}
            {op?.cancelRequested && " (stopping)"}
          </span>
          <div className="integrations-progress-track">
            <div className={`integrations-progress-fill ${total === 0 ? "indeterminate" : ""}`} style={{ width: total > 0 ? `${percentage ?? 0}%` : undefined }} />
          </div>
        </>
      )}
    </ProgressBar>
  );
}

/** operationOutcome says how an ended refresh went. */
export function operationOutcome(op: Operation, name: string): { tone: "success" | "error" | "info"; text: string } {
  switch (op.state) {
    case "OPERATION_STATE_SUCCEEDED": {
      const r = op.result ?? {};
      return {
        tone: "success",
        text: `${name} refresh finished: ${r.created ?? 0} new, ${r.changed ?? 0} changed, ${r.orphaned ?? 0} orphaned, ${r.unchanged ?? 0} unchanged.`,
      };
    }
    case "OPERATION_STATE_CANCELLED":
      return { tone: "info", text: `The refresh of ${name} was stopped.` };
    default:
      return { tone: "error", text: `The refresh of ${name} failed: ${op.error?.message || op.error?.reason || "no reason given"}.` };
  }
}

/**
 * ConnectionForm connects a tool of kind, or edits an integration of it. Credentials are
 * write-only: an edit never shows them, and an empty credential field keeps what is stored.
 * Fields are named as the API names them ("credentials.apiKey") so its errors show under them.
 */
export function ConnectionForm({
  kind,
  integration,
  onDone,
  onCancel,
}: {
  kind: Kind;
  integration?: Integration;
  onDone: (i: Integration) => void;
  onCancel: () => void;
}) {
  const { accountId } = useSession();
  const clock = useClock();
  const form = useApiForm();
  const editing = Boolean(integration);
  const fields = kind.fields ?? [];
  const credentialSet = (name: string) => integration?.credentialStatus?.find((c) => c.name === name);

  const submit = async (v: Record<string, string>) => {
    const settings: Record<string, string> = {};
    const credentials: Record<string, string> = {};
    const mask = ["displayName", "endpoint"];
    for (const f of fields) {
      const name = f.name ?? "";
      if (f.secret) {
        const value = v[`credentials.${name}`] ?? "";
        // Empty keeps the stored credential on an edit; on a connection it is simply not set.
        if (value !== "") {
          credentials[name] = value;
          mask.push(`credentials.${name}`);
        }
      } else {
        settings[name] = v[`settings.${name}`] ?? "";
        mask.push(`settings.${name}`);
      }
    }
    const body = { displayName: v.displayName ?? "", endpoint: v.endpoint ?? "", settings, credentials };
    if (!integration) {
      onDone(await call(api.POST("/v1/accounts/{accountId}/integrations", { params: { path: { accountId } }, body: { ...body, kind: kind.name } })));
      return;
    }
    // The mask names each credential given, so the ones left empty are kept (a mask of
    // "credentials" would replace them all). The API document does not list updateMask as a
    // parameter, but the gateway reads it from the query.
    const query = { updateMask: mask.join(",") } as never;
    onDone(
      await call(
        api.PATCH("/v1/accounts/{accountId}/integrations/{integrationId}", {
          params: { path: { accountId, integrationId: integration.id ?? "" }, query },
          body,
        }),
      ),
    );
  };

  return (
    <Form className="form integrations-form" validationBehavior="aria" validationErrors={form.fieldErrors} onSubmit={form.onSubmit(submit)} aria-label={editing ? `Edit ${kind.title}` : `Connect ${kind.title}`}>
      {form.error && <Alert tone="error">{form.error}</Alert>}
      <TextInput name="displayName" label="Name" defaultValue={integration?.displayName ?? ""} description={`Defaults to "${kind.title}".`} />
      <TextInput
        name="endpoint"
        label="Endpoint"
        defaultValue={integration?.endpoint ?? ""}
        description="Only for a private instance or a simulator; leave empty for the vendor's public address."
      />
      {fields.map((f) => {
        const name = f.name ?? "";
        if (!f.secret) {
          return (
            <TextInput
              key={name}
              name={`settings.${name}`}
              label={fieldLabel(name)}
              isRequired={f.required}
              defaultValue={integration?.settings?.[name] ?? ""}
              description={f.description}
            />
          );
        }
        const status = credentialSet(name);
        const kept = editing && status?.set;
        return (
          <TextInput
            key={name}
            name={`credentials.${name}`}
            label={fieldLabel(name)}
            type="password"
            autoComplete="new-password"
            isRequired={f.required && !kept}
            description={
              <>
                {f.description}
                {kept && <> Set {clock.dateTime(status?.updateTime)}; leave empty to keep it.</>}
              </>
            }
          />
        );
      })}
      <div className="integrations-form-actions">
        <SubmitButton isPending={form.pending}>{editing ? "Save changes" : `Connect ${kind.title}`}</SubmitButton>
        <button type="button" className="button secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
      {!editing && <p className="muted">Connecting stores the credentials encrypted; test the connection next.</p>}
    </Form>
  );
}

/** ErrorAlert shows an error from the API, if there is one. */
export function ErrorAlert({ error }: { error: unknown }) {
  if (!error) return null;
  return <Alert tone="error">{errorMessage(error)}</Alert>;
}
