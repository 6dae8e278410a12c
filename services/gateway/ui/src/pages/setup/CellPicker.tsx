import { useEffect, useRef, useState } from "react";
import { ComboBox, Input, Label, ListBox, ListBoxItem, Popover, Text } from "react-aria-components";
import { api, call, errorMessage, isAbort, type Schemas } from "../../api/client";

type External = Schemas["v1ExternalOrganization"];

type Props = {
  accountId: string;
  integrationId: string;
  /** The field's label: "IT Glue organization for Acme Dental". */
  label: string;
  /** The row's organization: an external organization linked to it may be chosen again. */
  organizationId: string;
  /** External ids chosen in unsaved changes of other rows of this column. */
  takenElsewhere: ReadonlySet<string>;
  /** External ids linked to rows whose unsaved change replaces the link: free to choose here. */
  freed: ReadonlySet<string>;
  onChoose: (externalId: string, name: string) => void;
  onClose: () => void;
};

/**
 * CellPicker is the drop-down of one grid cell: it searches the integration's cached
 * organizations through the API as the user types. Organizations mapped to another row are
 * listed but cannot be chosen (an external organization has one link in all), unless that row's
 * unsaved change lets go of it.
 */
export function CellPicker({ accountId, integrationId, label, organizationId, takenElsewhere, freed, onChoose, onClose }: Props) {
  const [input, setInput] = useState("");
  const [items, setItems] = useState<External[]>([]);
  const [state, setState] = useState<{ loading: boolean; error?: string; total?: number }>({ loading: true });
  const wrapper = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const ctrl = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    // A short pause lets a word be typed before asking.
    const timer = setTimeout(() => {
      call(
        api.GET("/v1/accounts/{accountId}/integrations/{integrationId}/externalOrganizations", {
          params: { path: { accountId, integrationId }, query: { query: input.trim(), pageSize: 50 } },
          signal: ctrl.signal,
        }),
      ).then(
        (r) => {
          setItems(r.externalOrganizations ?? []);
          setState({ loading: false, total: Number(r.totalSize ?? 0) });
        },
        (e: unknown) => {
          if (!isAbort(e)) setState({ loading: false, error: errorMessage(e) });
        },
      );
    }, 150);
    return () => {
      clearTimeout(timer);
      ctrl.abort();
    };
  }, [accountId, integrationId, input]);

  const unavailable = (e: External) =>
    takenElsewhere.has(e.externalId ?? "") ||
    (Boolean(e.organizationId) && e.organizationId !== organizationId && !freed.has(e.externalId ?? "")) ||
    e.deleted === true;
  const disabledKeys = items.filter(unavailable).map((e) => e.externalId ?? "");

  return (
    <div
      ref={wrapper}
      className="setup-picker"
      onKeyDown={(e) => {
        // Arrow keys belong to the field while it is open, not to the grid's cell navigation.
        if (e.key.startsWith("Arrow")) e.stopPropagation();
        if (e.key === "Escape" && !e.defaultPrevented) onClose();
      }}
      onBlur={(e) => {
        const to = e.relatedTarget as Node | null;
        if (!to || !wrapper.current?.contains(to)) {
          // The list is in a popover outside the cell: give a click on it time to land.
          setTimeout(() => {
            if (!wrapper.current?.contains(document.activeElement)) onClose();
          }, 150);
        }
      }}
    >
      <ComboBox
        inputValue={input}
        onInputChange={setInput}
        items={items}
        disabledKeys={disabledKeys}
        menuTrigger="focus"
        allowsEmptyCollection
        defaultFilter={() => true}
        onSelectionChange={(key) => {
          const chosen = items.find((e) => e.externalId === key);
          if (chosen) onChoose(chosen.externalId ?? "", chosen.name ?? "");
        }}
      >
        <Label className="visually-hidden">{label}</Label>
        <Input className="setup-picker-input" autoFocus placeholder="Search…" />
        <Text slot="description" className="visually-hidden">
          {state.loading ? "Searching" : state.error ? state.error : `${state.total ?? 0} found`}
        </Text>
        <Popover className="popover setup-picker-popover" placement="bottom start">
          <ListBox<External>
            className="setup-picker-list"
            renderEmptyState={() => (
              <div className="setup-picker-empty">{state.loading ? "Searching…" : state.error ?? "No organization matches."}</div>
            )}
          >
            {(e) => (
              <ListBoxItem id={e.externalId} textValue={e.name} className="setup-picker-option">
                <span>{e.name}</span>
                {unavailable(e) && (
                  <span className="setup-picker-note">{e.deleted ? " · deleted" : " · mapped to another organization"}</span>
                )}
                {e.state === "EXTERNAL_ORGANIZATION_STATE_ORPHANED" && <span className="setup-picker-note"> · orphaned</span>}
              </ListBoxItem>
            )}
          </ListBox>
        </Popover>
      </ComboBox>
    </div>
  );
}
