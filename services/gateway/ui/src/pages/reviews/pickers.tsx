import { useEffect, useMemo, useState } from "react";
import { ComboBox, Label, ListBox, ListBoxItem, Popover, Select, type Key } from "react-aria-components";
import { api, call, type Schemas } from "../../api/client";
import { useSession } from "../../app/session";
import { displayName } from "../../app/UserMenu";
import { FieldHelp } from "../../components/forms";
import { ComboInput, SelectButton } from "../../components/pickers";
import { useDebounced } from "../../lib/useDebounced";
import { useLoad } from "../../lib/useLoad";

// Shared by the Reviews and Settings pages: the account's users, and the pickers that choose
// them or an organization. They live here (not in src/components) because only these areas
// use them.

export type User = Schemas["v1User"];

/**
 * useUsers reads every user of the account (a few hundred at most, one page of the API's largest
 * size, then any further pages). A role without users:read sees only the signed-in person.
 */
export function useUsers() {
  const { accountId, can, me } = useSession();
  const readable = can("users:read");
  return useLoad(
    async (signal): Promise<User[]> => {
      if (!readable) return me.user ? [me.user] : [];
      const all: User[] = [];
      let pageToken: string | undefined;
      do {
        const r = await call(
          api.GET("/v1/accounts/{accountId}/users", {
            params: { path: { accountId }, query: { pageSize: 1000, ...(pageToken ? { pageToken } : {}) } },
            signal,
          }),
        );
        all.push(...(r.users ?? []));
        pageToken = r.nextPageToken || undefined;
      } while (pageToken);
      return all.sort((a, b) => displayName(a).localeCompare(displayName(b)));
    },
    [accountId, readable],
  );
}

/** userLabel names a user id from the loaded users; an id not among them is "Another user". */
export function userLabel(users: User[] | undefined, id: string | undefined): string {
  if (!id) return "Unassigned";
  const u = users?.find((x) => x.id === id);
  return u ? displayName(u) : "Another user";
}

// react-aria keys cannot be empty; "none" stands for "no one" and is sent as "".
export const nobody = "none";

/**
 * UserSelect chooses one active user, or nobody. Its value reaches the form under name (as the
 * API spells the field), with "none" for nobody (see fromPicker).
 */
export function UserSelect({
  name,
  label,
  users,
  defaultValue,
  description,
  isDisabled,
}: {
  name: string;
  label: string;
  users: User[];
  defaultValue?: string | undefined;
  description?: string;
  isDisabled?: boolean;
}) {
  // An inactive user who still holds the role is shown, so the current value reads right.
  const items = useMemo(
    () => [
      { id: nobody, name: "Unassigned" },
      ...users.filter((u) => u.active !== false || u.id === defaultValue).map((u) => ({ id: u.id ?? "", name: displayName(u) })),
    ],
    [users, defaultValue],
  );
  return (
    <Select className="field" name={name} defaultSelectedKey={defaultValue || nobody} isDisabled={isDisabled ?? false}>
      <Label>{label}</Label>
      <SelectButton className="reviews-select-button" />
      <FieldHelp description={description} />
      <Popover className="popover picker-popover reviews-popover">
        <ListBox className="menu" items={items}>
          {(i) => (
            <ListBoxItem className="menu-item" id={i.id} textValue={i.name}>
              {i.name}
            </ListBoxItem>
          )}
        </ListBox>
      </Popover>
    </Select>
  );
}

/** fromPicker turns a picker's form value into the API's: "none" is no one (""). */
export const fromPicker = (v: string | undefined) => (v === nobody ? "" : (v ?? ""));

type Org = Schemas["v1Organization"];

/**
 * OrganizationComboBox searches the account's organizations as the user types (the API's query
 * parameter) and submits the chosen one's id under name.
 */
export function OrganizationComboBox({ name, label, isRequired }: { name: string; label: string; isRequired?: boolean }) {
  const { accountId } = useSession();
  const [text, setText] = useState("");
  const query = useDebounced(text, 200);
  const [selected, setSelected] = useState<Key | null>(null);
  const orgs = useLoad(
    async (signal) =>
      (
        await call(
          api.GET("/v1/accounts/{accountId}/organizations", {
            params: { path: { accountId }, query: { pageSize: 25, ...(query ? { query } : {}) } },
            signal,
          }),
        )
      ).organizations ?? [],
    [accountId, query],
  );
  const [known, setKnown] = useState<Org[]>([]);
  useEffect(() => {
    if (orgs.data) setKnown(orgs.data);
  }, [orgs.data]);
  return (
    <ComboBox
      className="field"
      name={name}
      formValue="key"
      items={known}
      inputValue={text}
      onInputChange={setText}
      selectedKey={selected}
      onSelectionChange={(k) => {
        setSelected(k);
        const o = known.find((x) => x.id === k);
        if (o) setText(o.name ?? "");
      }}
      menuTrigger="focus"
      isRequired={isRequired ?? false}
      allowsEmptyCollection
    >
      <Label>{label}</Label>
      <ComboInput toggleLabel="Show organizations" />
      <FieldHelp description={orgs.loading ? "Searching…" : "Type to search by name."} />
      <Popover className="popover picker-popover reviews-popover">
        <ListBox<Org>
          className="menu"
          renderEmptyState={() => <p className="picker-empty">{orgs.loading ? "Searching…" : "No organization matches."}</p>}
        >
          {(o) => (
            <ListBoxItem className="menu-item" id={o.id ?? ""} textValue={o.name ?? ""}>
              {o.name}
            </ListBoxItem>
          )}
        </ListBox>
      </Popover>
    </ComboBox>
  );
}

/**
 * checkDay finds a due date that has the API's shape (YYYY-MM-DD) but is not a day of the
 * calendar ("2026-02-30"): the server refuses it under a field name no form has, so the page says
 * it at the field itself. Any other shape is left to the server, which names the field.
 */
export function badCalendarDay(v: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.getUTCFullYear() !== Number(m[1]) || d.getUTCMonth() !== Number(m[2]) - 1 || d.getUTCDate() !== Number(m[3]);
}
