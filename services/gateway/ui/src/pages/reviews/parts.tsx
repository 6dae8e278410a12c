import { useEffect, useState } from "react";
import { Button, DialogTrigger, Form } from "react-aria-components";
import { api, ApiError, call, type Schemas } from "../../api/client";
import { useSession } from "../../app/session";
import { Alert } from "../../components/Alert";
import { fieldError, SubmitButton, TextInput, useApiForm } from "../../components/forms";
import { DialogActions, ModalDialog } from "../../components/ModalDialog";
import { badCalendarDay, fromPicker, OrganizationComboBox, UserSelect, type User } from "./pickers";

export type Review = Schemas["v1Review"];

export const statusLabels: Record<string, string> = {
  REVIEW_STATUS_NOT_STARTED: "Not started",
  REVIEW_STATUS_IN_PROGRESS: "In progress",
  REVIEW_STATUS_COMPLETED: "Completed",
};

/**
 * useOrganizationNames names the organizations of the reviews shown, reading each once (the list
 * of reviews carries only ids). An organization that cannot be read shows as "—".
 */
export function useOrganizationNames(ids: string[]): Record<string, string> {
  const { accountId } = useSession();
  const [names, setNames] = useState<Record<string, string>>({});
  const missing = [...new Set(ids)].filter((id) => id && !(id in names)).sort();
  const key = missing.join(",");
  useEffect(() => {
    if (!key) return;
    const ctrl = new AbortController();
    for (const id of key.split(",")) {
      call(api.GET("/v1/accounts/{accountId}/organizations/{organizationId}", { params: { path: { accountId, organizationId: id } }, signal: ctrl.signal })).then(
        (o) => setNames((n) => ({ ...n, [id]: o.name ?? "—" })),
        () => setNames((n) => ({ ...n, [id]: "—" })),
      );
    }
    return () => ctrl.abort();
  }, [accountId, key]);
  return names;
}

const dueDescription = "YYYY-MM-DD, or empty for none.";

function checkDays(values: Record<string, string>, fields: string[]) {
  for (const f of fields) {
    if (badCalendarDay(values[f] ?? "")) throw fieldError(f, "Is not a day of the calendar.");
  }
}

/** CreateReviewDialog creates a review: organization, title, assignees and their due dates. */
export function CreateReviewDialog({ users, onCreated }: { users: User[]; onCreated: (r: Review) => void }) {
  const { accountId } = useSession();
  const form = useApiForm();
  return (
    <DialogTrigger onOpenChange={() => form.reset()}>
      <Button className="button primary">New review</Button>
      <ModalDialog title="New review" modalClassName="reviews-modal" isDismissable={!form.pending}>
        {(close) => (
          <Form
            className="form"
            validationErrors={form.fieldErrors}
            onSubmit={form.onSubmit(async (v) => {
              checkDays(v, ["review.engineerDueDate", "review.vcioDueDate"]);
              const r = await call(
                api.POST("/v1/accounts/{accountId}/reviews", {
                  params: { path: { accountId } },
                  body: {
                    organizationId: v["review.organizationId"] ?? "",
                    title: v["review.title"] ?? "",
                    engineerId: fromPicker(v["review.engineerId"]),
                    engineerDueDate: v["review.engineerDueDate"] ?? "",
                    vcioId: fromPicker(v["review.vcioId"]),
                    vcioDueDate: v["review.vcioDueDate"] ?? "",
                  },
                }),
              );
              onCreated(r);
              close();
            })}
          >
            {form.error && <Alert tone="error">{form.error}</Alert>}
            <OrganizationComboBox name="review.organizationId" label="Organization" />
            <TextInput name="review.title" label="Title" />
            <div className="reviews-pair">
              <UserSelect
                name="review.engineerId"
                label="Engineer"
                users={users}
                description="Unassigned: the organization's engineer."
              />
              <TextInput name="review.engineerDueDate" label="Engineer due date" description={dueDescription} inputMode="numeric" />
            </div>
            <div className="reviews-pair">
              <UserSelect name="review.vcioId" label="vCIO" users={users} description="Unassigned: the organization's vCIO." />
              <TextInput name="review.vcioDueDate" label="vCIO due date" description={dueDescription} inputMode="numeric" />
            </div>
            <DialogActions onCancel={close} isPending={form.pending}>
              <SubmitButton isPending={form.pending}>Create review</SubmitButton>
            </DialogActions>
          </Form>
        )}
      </ModalDialog>
    </DialogTrigger>
  );
}

/**
 * ReassignDialog changes a review's engineer and vCIO and their due dates. Only what changed is
 * sent: the API leaves the rest as it is and tells only those affected.
 */
export function ReassignDialog({
  review,
  users,
  label,
  onDone,
}: {
  review: Review;
  users: User[];
  label: string;
  onDone: (r: Review) => void;
}) {
  const { accountId } = useSession();
  const form = useApiForm();
  return (
    <DialogTrigger onOpenChange={() => form.reset()}>
      <Button className="button small secondary" aria-label={label}>
        Reassign
      </Button>
      <ModalDialog title={`Reassign “${review.title}”`} modalClassName="reviews-modal" isDismissable={!form.pending}>
        {(close) => (
          <Form
            className="form"
            validationErrors={form.fieldErrors}
            onSubmit={form.onSubmit(async (v) => {
              checkDays(v, ["engineerDueDate", "vcioDueDate"]);
              const next = {
                engineerId: fromPicker(v.engineerId),
                engineerDueDate: v.engineerDueDate ?? "",
                vcioId: fromPicker(v.vcioId),
                vcioDueDate: v.vcioDueDate ?? "",
              };
              const body: Partial<typeof next> = {};
              for (const k of Object.keys(next) as (keyof typeof next)[]) {
                if (next[k] !== (review[k] ?? "")) body[k] = next[k];
              }
              if (Object.keys(body).length === 0) throw new ApiError("Nothing changed: choose another engineer, vCIO or due date.", { status: 400 });
              const r = await call(
                api.POST("/v1/accounts/{accountId}/reviews/{reviewId}:reassign", {
                  params: { path: { accountId, reviewId: review.id ?? "" } },
                  body,
                }),
              );
              onDone(r);
              close();
            })}
          >
            {form.error && <Alert tone="error">{form.error}</Alert>}
            <div className="reviews-pair">
              <UserSelect name="engineerId" label="Engineer" users={users} defaultValue={review.engineerId} />
              <TextInput
                name="engineerDueDate"
                label="Engineer due date"
                description={dueDescription}
                defaultValue={review.engineerDueDate ?? ""}
                inputMode="numeric"
              />
            </div>
            <div className="reviews-pair">
              <UserSelect name="vcioId" label="vCIO" users={users} defaultValue={review.vcioId} />
              <TextInput
                name="vcioDueDate"
                label="vCIO due date"
                description={dueDescription}
                defaultValue={review.vcioDueDate ?? ""}
                inputMode="numeric"
              />
            </div>
            <DialogActions onCancel={close} isPending={form.pending}>
              <SubmitButton isPending={form.pending}>Reassign</SubmitButton>
            </DialogActions>
          </Form>
        )}
      </ModalDialog>
    </DialogTrigger>
  );
}
