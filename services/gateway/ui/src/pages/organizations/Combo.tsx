import type { ReactNode } from "react";
import { Button, ComboBox, Label, ListBox, ListBoxItem, Popover, Text, type Key } from "react-aria-components";
import { FieldHelp } from "../../components/forms";
import { ComboInput } from "../../components/pickers";
import type { Option } from "./model";

type Props = {
  label: string;
  /** The API's name of the field, so that its errors show here. */
  name?: string;
  options: Option[];
  /** The chosen id, "" for none. */
  value: string;
  onChange: (id: string) => void;
  placeholder?: string;
  description?: ReactNode;
  /** With items and onInputChange, the options come from the server as the person types. */
  items?: Option[];
  inputValue?: string;
  onInputChange?: (text: string) => void;
  isLoading?: boolean;
};

/**
 * OrgsCombo picks one of the account's things (a user, a type, an organization) by typing part
 * of its name; Clear empties it, since a combobox's own text cannot say "none".
 */
export function OrgsCombo({ label, name, options, value, onChange, placeholder, description, items, inputValue, onInputChange, isLoading }: Props) {
  const chosen = options.find((o) => o.id === value);
  const asyncProps =
    items !== undefined ? { items, inputValue: inputValue ?? "", onInputChange } : { defaultItems: options };
  return (
    <div className="orgs-combo-row">
      <ComboBox
        className="field orgs-combo"
        name={name}
        selectedKey={value || null}
        onSelectionChange={(k: Key | null) => onChange(k == null ? "" : String(k))}
        menuTrigger="focus"
        allowsEmptyCollection
        {...asyncProps}
      >
        <Label>{label}</Label>
        <ComboInput toggleLabel={`Show the choices of ${label}`} placeholder={placeholder} />
        <FieldHelp description={description} />
        <Popover className="popover picker-popover" placement="bottom start">
          <ListBox<Option>
            className="orgs-listbox"
            renderEmptyState={() => <div className="orgs-listbox-empty">{isLoading ? "Searching…" : "No match"}</div>}
          >
            {(o) => (
              <ListBoxItem id={o.id} textValue={o.name} className="orgs-option">
                <Text slot="label">{o.name}</Text>
                {o.detail && (
                  <Text slot="description" className="orgs-option-detail">
                    {o.detail}
                  </Text>
                )}
              </ListBoxItem>
            )}
          </ListBox>
        </Popover>
      </ComboBox>
      {value && (
        <Button className="button small secondary orgs-clear" aria-label={`Clear ${label}${chosen ? ` (${chosen.name})` : ""}`} onPress={() => onChange("")}>
          Clear
        </Button>
      )}
    </div>
  );
}
