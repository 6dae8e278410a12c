import { useState } from "react";
import { Link as RouterLink, useParams } from "react-router";
import { api, call, errorMessage } from "../../api/client";
import { useClock, useSession } from "../../app/session";
import { Alert } from "../../components/Alert";
import { Loading } from "../../components/Loading";
import { Page } from "../../components/Page";
import { useLoad } from "../../lib/useLoad";
import { ReassignDialog, statusLabels, useOrganizationNames } from "./parts";
import { userLabel, useUsers } from "./pickers";
import "./reviews.css";

/** ReviewPage shows one review (where a notification about it leads) and reassigns it. */
export default function ReviewPage() {
  const { reviewId = "" } = useParams();
  const { accountId, can } = useSession();
  const clock = useClock();
  const users = useUsers();
  const [notice, setNotice] = useState<string>();
  const review = useLoad(
    (signal) => call(api.GET("/v1/accounts/{accountId}/reviews/{reviewId}", { params: { path: { accountId, reviewId } }, signal })),
    [accountId, reviewId],
  );
  const names = useOrganizationNames(review.data?.organizationId ? [review.data.organizationId] : []);
  const r = review.data;

  let body;
  if (review.loading && !r) body = <Loading label="Loading the review" />;
  else if (review.error || !r) body = <Alert tone="error">{errorMessage(review.error)}</Alert>;
  else {
    body = (
      <section className="section" aria-labelledby="review-details">
        <div className="section-header">
          <h2 id="review-details">Details</h2>
          {can("reviews:write") && (
            <ReassignDialog
              review={r}
              users={users.data ?? []}
              label="Reassign"
              onDone={(x) => {
                review.setData(x);
                setNotice("The review is reassigned.");
              }}
            />
          )}
        </div>
        {notice && <Alert tone="success">{notice}</Alert>}
        <dl className="details">
          <dt>Organization</dt>
          <dd>{names[r.organizationId ?? ""] ?? "…"}</dd>
          <dt>Status</dt>
          <dd>{statusLabels[r.status ?? ""] ?? "—"}</dd>
          <dt>Engineer</dt>
          <dd>
            {userLabel(users.data, r.engineerId)}
            {r.engineerDueDate && `, due ${clock.day(r.engineerDueDate)}`}
          </dd>
          <dt>vCIO</dt>
          <dd>
            {userLabel(users.data, r.vcioId)}
            {r.vcioDueDate && `, due ${clock.day(r.vcioDueDate)}`}
          </dd>
          <dt>Created</dt>
          <dd>{clock.dateTime(r.createTime)}</dd>
          <dt>Last changed</dt>
          <dd>{clock.dateTime(r.updateTime)}</dd>
        </dl>
      </section>
    );
  }
  return (
    <Page title={r?.title ?? "Review"}>
      <p>
        <RouterLink to="/reviews">All reviews</RouterLink>
      </p>
      {body}
    </Page>
  );
}
