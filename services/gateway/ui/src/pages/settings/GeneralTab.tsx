import { useEffect, useState } from "react";
import { Button, ComboBox, FieldError, FileTrigger, Form, Label, ListBox, ListBoxItem, Popover, Select } from "react-aria-components";
import { api, call, errorMessage, type Schemas } from "../../api/client";
import { useSession } from "../../app/session";
import { Alert } from "../../components/Alert";
import { Loading } from "../../components/Loading";
import { FieldHelp, SubmitButton, TextInput, useApiForm } from "../../components/forms";
import { ComboInput, SelectButton } from "../../components/pickers";
import { makeClock } from "../../lib/dates";
import { useLoad } from "../../lib/useLoad";

type Settings = Schemas["v1AccountSettings"];
type DateFormat = NonNullable<Settings["dateFormat"]>;

const example = "2026-12-31T12:00:00Z";
const formatLabel = (f: DateFormat) => makeClock({ timeZone: "UTC", dateFormat: f }).date(example);
const maxLogo = 2 * 1024 * 1024;

/** GeneralTab edits the company name, logo, date format, time zone, currency and report title. */
export function GeneralTab() {
  const { accountId, can, reload } = useSession();
  const writable = can("account_settings:write");
  const path = { params: { path: { accountId } } };
  const data = useLoad(
    async (signal) => {
      const [settings, vocabulary] = await Promise.all([
        call(api.GET("/v1/accounts/{accountId}/settings", { ...path, signal })),
        call(api.GET("/v1/accounts/{accountId}/settings/vocabulary", { ...path, signal })),
      ]);
      return { settings, vocabulary };
    },
    [accountId],
  );
  const form = useApiForm();
  const [saved, setSaved] = useState(false);

  if (data.loading && !data.data) return <Loading label="Loading the settings" />;
  if (data.error || !data.data) return <Alert tone="error">{errorMessage(data.error)}</Alert>;
  const { settings, vocabulary } = data.data;
  const formats = (vocabulary.dateFormats ?? []).filter((f) => f !== "DATE_FORMAT_UNSPECIFIED");

  return (
    <>
      <LogoSection hasLogo={Boolean(settings.hasLogo)} writable={writable} onChange={data.reload} />
      <section className="section" aria-labelledby="settings-general-title">
        <h2 id="settings-general-title">Company</h2>
        <Form
          className="form settings-form"
          validationErrors={form.fieldErrors}
          onSubmit={form.onSubmit(async (v) => {
            setSaved(false);
            const updated = await call(
              api.PATCH("/v1/accounts/{accountId}/settings", {
                ...path,
                body: {
                  companyName: v["settings.companyName"] ?? "",
                  dateFormat: (v["settings.dateFormat"] ?? "DATE_FORMAT_UNSPECIFIED") as DateFormat,
                  timeZone: v["settings.timeZone"] ?? "",
                  currency: v["settings.currency"] ?? "",
                  alignmentReportTitle: v["settings.alignmentReportTitle"] ?? "",
                },
              }),
            );
            data.setData({ settings: updated, vocabulary });
            setSaved(true);
            // Dates everywhere follow the new format and zone.
            await reload();
          })}
        >
          {form.error && <Alert tone="error">{form.error}</Alert>}
          <TextInput name="settings.companyName" label="Company name" defaultValue={settings.companyName ?? ""} isReadOnly={!writable} description="Shown on reports and emails." />
          <Select
            className="field"
            name="settings.dateFormat"
            defaultSelectedKey={settings.dateFormat && settings.dateFormat !== "DATE_FORMAT_UNSPECIFIED" ? settings.dateFormat : "DATE_FORMAT_MM_DD_YYYY"}
            isDisabled={!writable}
          >
            <Label>Date format</Label>
            <SelectButton />
            <FieldError className="field-error" />
            <Popover className="popover picker-popover">
              <ListBox className="menu">
                {formats.map((f) => (
                  <ListBoxItem key={f} id={f} className="menu-item" textValue={formatLabel(f)}>
                    {formatLabel(f)}
                  </ListBoxItem>
                ))}
              </ListBox>
            </Popover>
          </Select>
          <SearchPick
            name="settings.timeZone"
            label="Time zone"
            options={vocabulary.timeZones ?? []}
            defaultValue={settings.timeZone ?? ""}
            isDisabled={!writable}
            description="Dates and times show in this zone, here and in emails."
          />
          <SearchPick name="settings.currency" label="Currency" options={vocabulary.currencies ?? []} defaultValue={settings.currency ?? ""} isDisabled={!writable} />
          <TextInput
            name="settings.alignmentReportTitle"
            label="Alignment report title"
            defaultValue={settings.alignmentReportTitle ?? ""}
            isReadOnly={!writable}
            description="The default title of alignment reports."
          />
          {saved && <Alert tone="success">The settings are saved.</Alert>}
          {writable && <SubmitButton isPending={form.pending}>Save settings</SubmitButton>}
        </Form>
      </section>
    </>
  );
}

/** SearchPick chooses one of many fixed values (time zones, currencies) by typing part of it. */
function SearchPick({
  name,
  label,
  options,
  defaultValue,
  isDisabled,
  description,
}: {
  name: string;
  label: string;
  options: string[];
  defaultValue: string;
  isDisabled: boolean;
  description?: string;
}) {
  const [text, setText] = useState(defaultValue);
  const [key, setKey] = useState<string | null>(defaultValue || null);
  const needle = text.trim().toLowerCase();
  // The whole list while the field shows the chosen value; the matches while typing.
  // The list is cut short for speed, but always holds the chosen value: a combo box whose value
  // is not among its items shows nothing.
  const shown = (needle && text !== key ? options.filter((o) => o.toLowerCase().includes(needle)) : options).slice(0, 200);
  if (key && !shown.includes(key)) shown.unshift(key);
  return (
    <ComboBox
      className="field"
      name={name}
      formValue="key"
      items={shown.map((o) => ({ id: o }))}
      inputValue={text}
      onInputChange={setText}
      selectedKey={key}
      onSelectionChange={(k) => {
        const v = k === null ? null : String(k);
        setKey(v);
        if (v) setText(v);
      }}
      isDisabled={isDisabled}
      allowsEmptyCollection
    >
      <Label>{label}</Label>
      <ComboInput toggleLabel={`Show ${label.toLowerCase()} choices`} />
      <FieldHelp description={description} />
      <Popover className="popover picker-popover">
        <ListBox<{ id: string }> className="menu" renderEmptyState={() => <p className="picker-empty">Nothing matches.</p>}>
          {(o) => (
            <ListBoxItem className="menu-item" id={o.id} textValue={o.id}>
              {o.id}
            </ListBoxItem>
          )}
        </ListBox>
      </Popover>
    </ComboBox>
  );
}

function toBase64(bytes: ArrayBuffer): string {
  let s = "";
  const b = new Uint8Array(bytes);
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

/**
 * LogoSection shows the company logo and replaces it: the chosen file is previewed before it is
 * uploaded, and the API's refusal (type, size) is shown beside it.
 */
function LogoSection({ hasLogo, writable, onChange }: { hasLogo: boolean; writable: boolean; onChange: () => void }) {
  const { accountId } = useSession();
  const path = { params: { path: { accountId } } };
  const [current, setCurrent] = useState<string>();
  const [preview, setPreview] = useState<{ file: File; url: string }>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [round, setRound] = useState(0);

  useEffect(() => {
    if (!hasLogo) {
      setCurrent(undefined);
      return;
    }
    // The image comes as bytes; the page shows it from a blob: URL (the CSP allows blob: images).
    const ctrl = new AbortController();
    let url: string | undefined;
    fetch(`/v1/accounts/${encodeURIComponent(accountId)}/logo`, { credentials: "same-origin", signal: ctrl.signal })
      .then((r) => (r.ok ? r.blob() : undefined))
      .then((b) => {
        if (b) {
          url = URL.createObjectURL(b);
          setCurrent(url);
        }
      })
      .catch(() => setCurrent(undefined));
    return () => {
      ctrl.abort();
      if (url) URL.revokeObjectURL(url);
    };
  }, [accountId, hasLogo, round]);

  useEffect(() => () => preview && URL.revokeObjectURL(preview.url), [preview]);

  const choose = (files: FileList | null) => {
    setError(undefined);
    const f = files?.[0];
    if (!f) return;
    if (f.size > maxLogo) {
      setError("The image is larger than 2 MB. Choose a smaller one.");
      return;
    }
    setPreview({ file: f, url: URL.createObjectURL(f) });
  };

  const upload = async () => {
    if (!preview) return;
    setBusy(true);
    setError(undefined);
    try {
      const data = toBase64(await preview.file.arrayBuffer());
      await call(api.PUT("/v1/accounts/{accountId}/logo", { ...path, body: { data } }));
      setPreview(undefined);
      setRound((r) => r + 1);
      onChange();
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await call(api.DELETE("/v1/accounts/{accountId}/logo", path));
      onChange();
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="section" aria-labelledby="settings-logo-title">
      <h2 id="settings-logo-title">Logo</h2>
      <div className="settings-logo">
        <div className="settings-logo-frame">
          {preview ? (
            <img src={preview.url} alt={`Preview of ${preview.file.name}, not saved yet`} />
          ) : current ? (
            <img src={current} alt="The company logo" />
          ) : (
            <span className="muted">No logo</span>
          )}
        </div>
        {writable && (
          <div className="settings-logo-actions">
            <p className="muted">PNG, JPEG or SVG, up to 2 MB. Wider images are scaled to 260 pixels.</p>
            <div className="settings-buttons">
              <FileTrigger acceptedFileTypes={["image/png", "image/jpeg", "image/svg+xml"]} onSelect={choose}>
                <Button className="button secondary">{hasLogo ? "Choose another logo" : "Choose a logo"}</Button>
              </FileTrigger>
              {preview && (
                <>
                  <Button className="button primary" isPending={busy} onPress={() => void upload()}>
                    Upload logo
                  </Button>
                  <Button className="button secondary" isDisabled={busy} onPress={() => setPreview(undefined)}>
                    Cancel
                  </Button>
                </>
              )}
              {!preview && hasLogo && (
                <Button className="button danger-outline" isPending={busy} onPress={() => void remove()}>
                  Remove logo
                </Button>
              )}
            </div>
            {error && <Alert tone="error">{error}</Alert>}
          </div>
        )}
      </div>
    </section>
  );
}
