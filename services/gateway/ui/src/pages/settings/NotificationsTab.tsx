import { useEffect, useState } from "react";
import { Button, ComboBox, Form, Label, ListBox, ListBoxItem, Popover, Text, type Key } from "react-aria-components";
import { api, call, errorMessage } from "../../api/client";
import { useSession } from "../../app/session";
import { displayName } from "../../app/UserMenu";
import { Alert } from "../../components/Alert";
import { Loading } from "../../components/Loading";
import { SubmitButton, TextInput, useApiForm } from "../../components/forms";
import { ComboInput } from "../../components/pickers";
import { useLoad } from "../../lib/useLoad";
import { useUsers, type User } from "../reviews/pickers";

/**
 * NotificationsTab sets who is told about reviews beyond their assignees ("assign ownership":
 * an engineer or vCIO changes; "assign reviews": a review is created) and after how many quiet
 * days assignees are reminded of a review.
 */
export function NotificationsTab() {
  const { accountId, can } = useSession();
  const path = { params: { path: { accountId } } };
  const canRecipients = can("account_settings:read");
  const writeRecipients = can("account_settings:write");
  const writeReminder = can("notifications:write");
  const users = useUsers();
  const data = useLoad(
    async (signal) => {
      const [account, notification] = await Promise.all([
        canRecipients ? call(api.GET("/v1/accounts/{accountId}/settings", { ...path, signal })) : Promise.resolve(undefined),
        call(api.GET("/v1/accounts/{accountId}/notificationSettings", { ...path, signal })),
      ]);
      return { account, notification };
    },
    [accountId, canRecipients],
  );
  const [ownership, setOwnership] = useState<string[]>([]);
  const [reviews, setReviews] = useState<string[]>([]);
  const [saved, setSaved] = useState(false);
  const form = useApiForm();

  useEffect(() => {
    setOwnership(data.data?.account?.assignOwnershipRecipientIds ?? []);
    setReviews(data.data?.account?.assignReviewsRecipientIds ?? []);
  }, [data.data]);

  if ((data.loading && !data.data) || (users.loading && !users.data)) return <Loading label="Loading the notification settings" />;
  if (data.error || !data.data) return <Alert tone="error">{errorMessage(data.error)}</Alert>;
  const everyone = users.data ?? [];
  const quiet = data.data.notification.reminderQuietDays || 7;

  return (
    <section className="section" aria-labelledby="settings-notifications-title">
      <h2 id="settings-notifications-title">Who is notified</h2>
      <Form
        className="form settings-form"
        validationErrors={form.fieldErrors}
        onSubmit={form.onSubmit(async (v) => {
          setSaved(false);
          if (canRecipients && writeRecipients) {
            await call(
              api.PATCH("/v1/accounts/{accountId}/settings", {
                ...path,
                body: { assignOwnershipRecipientIds: ownership, assignReviewsRecipientIds: reviews },
              }),
            );
          }
          if (writeReminder) {
            const days = Number(v["settings.reminderQuietDays"] ?? "");
            await call(
              api.PATCH("/v1/accounts/{accountId}/notificationSettings", {
                ...path,
                body: { reminderQuietDays: Number.isFinite(days) ? days : -1 },
              }),
            );
          }
          data.reload();
          setSaved(true);
        })}
      >
        {form.error && <Alert tone="error">{form.error}</Alert>}
        {canRecipients && (
          <>
            <UserPicker
              name="settings.assignOwnershipRecipientIds"
              label="Assign ownership"
              description="Told whenever a review's engineer or vCIO changes, besides the people assigned."
              users={everyone}
              chosen={ownership}
              onChange={setOwnership}
              isDisabled={!writeRecipients}
            />
            <UserPicker
              name="settings.assignReviewsRecipientIds"
              label="Assign reviews"
              description="Told about every new review, besides its engineer and vCIO."
              users={everyone}
              chosen={reviews}
              onChange={setReviews}
              isDisabled={!writeRecipients}
            />
          </>
        )}
        <TextInput
          name="settings.reminderQuietDays"
          label="Reminder period (days)"
          description="A review's assignees are reminded after this many days without an edit."
          defaultValue={String(quiet)}
          inputMode="numeric"
          isReadOnly={!writeReminder}
          className="settings-short"
        />
        {saved && <Alert tone="success">The notification settings are saved.</Alert>}
        {(writeReminder || writeRecipients) && <SubmitButton isPending={form.pending}>Save notification settings</SubmitButton>}
      </Form>
    </section>
  );
}

/**
 * UserPicker chooses several users: a search box adds one, each chosen user has a Remove button.
 * name is the field as the API spells it, so the API's errors about the list show under it.
 */
function UserPicker({
  name,
  label,
  description,
  users,
  chosen,
  onChange,
  isDisabled,
}: {
  name: string;
  label: string;
  description: string;
  users: User[];
  chosen: string[];
  onChange: (ids: string[]) => void;
  isDisabled: boolean;
}) {
  const [text, setText] = useState("");
  const needle = text.trim().toLowerCase();
  const options = users
    .filter((u) => u.active !== false && !chosen.includes(u.id ?? ""))
    .filter((u) => !needle || `${displayName(u)} ${u.email ?? ""}`.toLowerCase().includes(needle))
    .map((u) => ({ id: u.id ?? "", name: displayName(u), email: u.email ?? "" }));
  const nameOf = (id: string) => {
    const u = users.find((x) => x.id === id);
    return u ? displayName(u) : "A user who cannot be listed";
  };
  const descriptionId = `${name}-description`;
  return (
    <fieldset className="settings-picker" aria-describedby={descriptionId}>
      <legend>{label}</legend>
      <p id={descriptionId} className="field-description">
        {description}
      </p>
      {chosen.length === 0 ? (
        <p className="muted">No one besides those assigned.</p>
      ) : (
        <ul className="settings-chosen" aria-label={`${label}: chosen`}>
          {chosen.map((id) => (
            <li key={id}>
              <span>{nameOf(id)}</span>
              {!isDisabled && (
                <Button className="button small secondary" aria-label={`Remove ${nameOf(id)} from ${label}`} onPress={() => onChange(chosen.filter((x) => x !== id))}>
                  Remove
                </Button>
              )}
            </li>
          ))}
        </ul>
      )}
      {!isDisabled && (
        <ComboBox
          className="field"
          items={options}
          inputValue={text}
          onInputChange={setText}
          selectedKey={null}
          onSelectionChange={(k: Key | null) => {
            if (k !== null) {
              onChange([...chosen, String(k)]);
              setText("");
            }
          }}
          allowsEmptyCollection
          menuTrigger="focus"
        >
          <Label>Add to {label}</Label>
          <ComboInput toggleLabel={`Show users to add to ${label}`} placeholder="Type a name or email" />
          <Text slot="description" className="visually-hidden">
            Choosing a user adds them.
          </Text>
          <Popover className="popover picker-popover">
            <ListBox<{ id: string; name: string; email: string }> className="menu" renderEmptyState={() => <p className="picker-empty">No other user matches.</p>}>
              {(o) => (
                <ListBoxItem className="menu-item" id={o.id} textValue={o.name}>
                  {o.email ? `${o.name} (${o.email})` : o.name}
                </ListBoxItem>
              )}
            </ListBox>
          </Popover>
        </ComboBox>
      )}
    </fieldset>
  );
}
