import { useEffect, useMemo, useState } from "react";
import { Button, Label, Radio, RadioGroup } from "react-aria-components";
import { api, call, errorMessage, isAbort, type Schemas } from "../../api/client";
import { useClock, useSession } from "../../app/session";
import { Alert } from "../../components/Alert";
import { CheckboxField } from "../../components/forms";
import { Loading } from "../../components/Loading";
import { useLoad } from "../../lib/useLoad";
import { ErrorAlert, type Integration } from "./common";

type Direction = NonNullable<Schemas["v1SyncSettings"]["direction"]>;
type Scope = Required<Pick<Schemas["v1SyncScope"], "psaTypeIds" | "psaStatusIds" | "organizationTypeIds" | "organizationStatusIds">>;
type Option = { id: string; name: string };

const directions: { value: Direction; label: string; explain: string }[] = [
  { value: "SYNC_DIRECTION_OFF", label: "Off", explain: "The PSA's companies are cached and can be mapped; nothing more." },
  { value: "SYNC_DIRECTION_FROM_PSA", label: "From the PSA", explain: "Companies in the scope, and their changes, flow into Orgplane." },
  { value: "SYNC_DIRECTION_TWO_WAY", label: "Two-way", explain: "As above, and Orgplane's organizations in the scope flow into the PSA." },
];

// The API has no list of a PSA's company types and statuses: they are read from the companies
// it has cached, which are the ones a scope can take in or leave out anyway.
const cachedPages = 10;

/** SyncSettingsSection sets a PSA integration's direction and scope, previewing what a scope takes in. */
export function SyncSettingsSection({ integration, onSaved }: { integration: Integration; onSaved: () => void }) {
  const { accountId, can } = useSession();
  const clock = useClock();
  const writer = can("integrations:write");
  const integrationId = integration.id ?? "";
  const saved = integration.syncSettings;
  const [direction, setDirection] = useState<Direction>(saved?.direction && saved.direction !== "SYNC_DIRECTION_UNSPECIFIED" ? saved.direction : "SYNC_DIRECTION_OFF");
  const [scope, setScope] = useState<Scope>({
    psaTypeIds: saved?.scope?.psaTypeIds ?? [],
    psaStatusIds: saved?.scope?.psaStatusIds ?? [],
    organizationTypeIds: saved?.scope?.organizationTypeIds ?? [],
    organizationStatusIds: saved?.scope?.organizationStatusIds ?? [],
  });
  const [preview, setPreview] = useState<Schemas["v1SyncSettingsPreview"]>();
  const [previewError, setPreviewError] = useState<string>();
  const [saving, setSaving] = useState(false);
  const [result, setResult] = useState<{ tone: "success" | "error"; text: string }>();

  const options = useLoad(
    async (signal) => {
      const psaTypes = new Map<string, string>();
      const psaStatuses = new Map<string, string>();
      let token = "";
      for (let i = 0; i < cachedPages; i++) {
        const r = await call(
          api.GET("/v1/accounts/{accountId}/integrations/{integrationId}/externalOrganizations", {
            params: { path: { accountId, integrationId }, query: { pageSize: 1000, pageToken: token || undefined } },
            signal,
          }),
        );
        for (const o of r.externalOrganizations ?? []) {
          if (o.typeId) psaTypes.set(o.typeId, o.typeName || o.typeId);
          if (o.statusId) psaStatuses.set(o.statusId, o.statusName || o.statusId);
        }
        token = r.nextPageToken ?? "";
        if (!token) break;
      }
      const path = { params: { path: { accountId }, query: { pageSize: 1000 } }, signal };
      const [types, statuses] = await Promise.all([
        call(api.GET("/v1/accounts/{accountId}/organizationTypes", path)),
        call(api.GET("/v1/accounts/{accountId}/organizationStatuses", path)),
      ]);
      const sorted = (m: Map<string, string>): Option[] => [...m].map(([id, name]) => ({ id, name })).sort((a, b) => a.name.localeCompare(b.name));
      return {
        psaTypes: sorted(psaTypes),
        psaStatuses: sorted(psaStatuses),
        orgTypes: (types.organizationTypes ?? []).map((t) => ({ id: t.id ?? "", name: t.name ?? "" })),
        orgStatuses: (statuses.organizationStatuses ?? []).map((t) => ({ id: t.id ?? "", name: t.name ?? "" })),
      };
    },
    [accountId, integrationId, integration.lastRefreshTime],
  );

  const settings = useMemo(
    () => ({ direction, scope, typeMappings: saved?.typeMappings ?? [], statusMappings: saved?.statusMappings ?? [] }),
    [direction, scope, saved],
  );

  // The preview follows every change, a moment after the last one.
  useEffect(() => {
    const ctrl = new AbortController();
    const timer = setTimeout(() => {
      call(
        api.POST("/v1/accounts/{accountId}/integrations/{integrationId}/syncSettings:preview", {
          params: { path: { accountId, integrationId } },
          body: settings,
          signal: ctrl.signal,
        }),
      ).then(
        (p) => {
          setPreview(p);
          setPreviewError(undefined);
        },
        (e: unknown) => {
          if (!isAbort(e)) setPreviewError(errorMessage(e));
        },
      );
    }, 300);
    return () => {
      clearTimeout(timer);
      ctrl.abort();
    };
  }, [accountId, integrationId, settings]);

  const save = async () => {
    setSaving(true);
    setResult(undefined);
    try {
      await call(api.PUT("/v1/accounts/{accountId}/integrations/{integrationId}/syncSettings", { params: { path: { accountId, integrationId } }, body: settings }));
      setResult({ tone: "success", text: "The sync settings are saved. The next refresh applies the scope." });
      onSaved();
    } catch (e) {
      setResult({ tone: "error", text: errorMessage(e) });
    } finally {
      setSaving(false);
    }
  };

  const toggle = (list: keyof Scope, id: string, on: boolean) => {
    setResult(undefined);
    setScope((s) => ({ ...s, [list]: on ? [...s[list], id] : s[list].filter((x) => x !== id) }));
  };

  let lists;
  if (options.loading && !options.data) lists = <Loading label="Loading types and statuses" />;
  else if (options.error) lists = <ErrorAlert error={options.error} />;
  else {
    const o = options.data!;
    lists = (
      <div className="integrations-scope">
        <ScopeList title="PSA company types" empty="No company types seen yet: refresh first." options={o.psaTypes} chosen={scope.psaTypeIds} onToggle={(id, on) => toggle("psaTypeIds", id, on)} disabled={!writer} />
        <ScopeList title="PSA company statuses" empty="No company statuses seen yet: refresh first." options={o.psaStatuses} chosen={scope.psaStatusIds} onToggle={(id, on) => toggle("psaStatusIds", id, on)} disabled={!writer} />
        {direction === "SYNC_DIRECTION_TWO_WAY" && (
          <>
            <ScopeList title="Orgplane organization types" empty="No organization types." options={o.orgTypes} chosen={scope.organizationTypeIds} onToggle={(id, on) => toggle("organizationTypeIds", id, on)} disabled={!writer} />
            <ScopeList title="Orgplane organization statuses" empty="No organization statuses." options={o.orgStatuses} chosen={scope.organizationStatusIds} onToggle={(id, on) => toggle("organizationStatusIds", id, on)} disabled={!writer} />
          </>
        )}
      </div>
    );
  }

  return (
    <section className="section" aria-labelledby="integration-sync-title">
      <h2 id="integration-sync-title">Sync settings</h2>
      {saved?.updateTime && <p className="muted">Last changed {clock.dateTime(saved.updateTime)}.</p>}
      <RadioGroup
        className="integrations-directions"
        value={direction}
        onChange={(v) => {
          setResult(undefined);
          setDirection(v as Direction);
        }}
        isDisabled={!writer}
      >
        <Label className="integrations-legend">Direction</Label>
        {directions.map((d) => (
          <Radio key={d.value} value={d.value} className="integrations-radio">
            <span className="integrations-radio-mark" aria-hidden="true" />
            <span>
              <strong>{d.label}</strong> <span className="muted">{d.explain}</span>
            </span>
          </Radio>
        ))}
      </RadioGroup>
      <h3>Scope</h3>
      <p className="muted">Which companies sync. Nothing ticked in a list admits all of it.</p>
      {lists}
      <div className="integrations-preview" role="status" aria-live="polite">
        {previewError ? (
          <span>The preview failed: {previewError}</span>
        ) : preview ? (
          <span>
            With these settings <strong>{preview.inScope ?? 0}</strong> cached companies sync; <strong>{preview.stopSyncing ?? 0}</strong> would stop
            syncing (orphaned by the next full refresh) and <strong>{preview.startSyncing ?? 0}</strong> would start again.
          </span>
        ) : (
          <span>Working out what this scope takes in…</span>
        )}
      </div>
      {result && <Alert tone={result.tone}>{result.text}</Alert>}
      {writer && (
        <Button className="button primary" onPress={() => void save()} isPending={saving}>
          Save sync settings
        </Button>
      )}
    </section>
  );
}

function ScopeList({
  title,
  empty,
  options,
  chosen,
  onToggle,
  disabled,
}: {
  title: string;
  empty: string;
  options: Option[];
  chosen: string[];
  onToggle: (id: string, on: boolean) => void;
  disabled: boolean;
}) {
  return (
    <fieldset className="integrations-scope-list">
      <legend>{title}</legend>
      {options.length === 0 ? (
        <p className="muted">{empty}</p>
      ) : (
        options.map((o) => (
          <CheckboxField key={o.id} isSelected={chosen.includes(o.id)} onChange={(on) => onToggle(o.id, on)} isDisabled={disabled}>
            {o.name}
          </CheckboxField>
        ))
      )}
    </fieldset>
  );
}
