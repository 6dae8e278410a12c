import { useCallback, useEffect, useRef, useState } from "react";
import { Button, Radio, RadioGroup, Label } from "react-aria-components";
import { Link as RouterLink } from "react-router";
import { api, call, errorMessage } from "../../api/client";
import { useClock, useSession } from "../../app/session";
import { Alert } from "../../components/Alert";
import { EmptyState } from "../../components/EmptyState";
import { Loading } from "../../components/Loading";
import { Page } from "../../components/Page";
import { CreateReviewDialog, ReassignDialog, statusLabels, useOrganizationNames, type Review } from "./parts";
import { userLabel, useUsers } from "./pickers";
import "./reviews.css";

const pageSize = 50;
const showKey = "orgplane.reviews.show";

/**
 * ReviewsPage lists the account's reviews, newest first, a page at a time: all of them, or only
 * those assigned to the signed-in person (Mine, which the API selects: assigneeId=me); creates
 * reviews and reassigns them.
 */
export default function ReviewsPage() {
  const { accountId, can, me } = useSession();
  const clock = useClock();
  const users = useUsers();
  const [show, setShow] = useState<"all" | "mine">(() => (localStorage.getItem(showKey) === "mine" ? "mine" : "all"));
  const [reviews, setReviews] = useState<Review[]>([]);
  const [next, setNext] = useState<string>();
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const names = useOrganizationNames(reviews.map((r) => r.organizationId ?? ""));
  const writable = can("reviews:write");
  // The request under way: switching between All and Mine (or leaving) cancels it, so a page of
  // one list never lands in the other.
  const pending = useRef<AbortController>(undefined);

  const load = useCallback(
    async (pageToken: string | undefined) => {
      pending.current?.abort();
      const ctrl = new AbortController();
      pending.current = ctrl;
      setLoading(true);
      setError(undefined);
      try {
        const r = await call(
          api.GET("/v1/accounts/{accountId}/reviews", {
            params: {
              path: { accountId },
              query: { pageSize, ...(pageToken ? { pageToken } : {}), ...(show === "mine" ? { assigneeId: "me" } : {}) },
            },
            signal: ctrl.signal,
          }),
        );
        setReviews((all) => (pageToken ? [...all, ...(r.reviews ?? [])] : (r.reviews ?? [])));
        setNext(r.nextPageToken || undefined);
        setLoading(false);
      } catch (e) {
        if (ctrl.signal.aborted) return;
        setError(errorMessage(e));
        setLoading(false);
      }
    },
    [accountId, show],
  );

  useEffect(() => {
    setReviews([]);
    setNext(undefined);
    void load(undefined);
    return () => pending.current?.abort();
  }, [load]);

  const replace = (r: Review) => setReviews((all) => all.map((x) => (x.id === r.id ? r : x)));

  let body;
  if (loading && reviews.length === 0) {
    body = <Loading label="Loading reviews" />;
  } else if (error && reviews.length === 0) {
    body = <Alert tone="error">{error}</Alert>;
  } else if (reviews.length === 0) {
    body =
      show === "mine" ? (
        <EmptyState title="No reviews are assigned to you">
          <p>Reviews whose engineer or vCIO you are show here.</p>
        </EmptyState>
      ) : (
        <EmptyState title="No reviews yet">
          <p>{writable ? "Create the first review with “New review”." : "Reviews created in this account show here."}</p>
        </EmptyState>
      );
  } else {
    body = (
      <div className="table-wrap">
        <table className="table reviews-table">
          <caption className="visually-hidden">{show === "mine" ? "Reviews assigned to you" : "Reviews"}, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Review</th>
              <th scope="col">Organization</th>
              <th scope="col">Engineer</th>
              <th scope="col">vCIO</th>
              <th scope="col">Status</th>
              <th scope="col">Created</th>
              {writable && (
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {reviews.map((r) => (
              <tr key={r.id}>
                <th scope="row">
                  <RouterLink to={`/reviews/${r.id}`}>{r.title}</RouterLink>
                </th>
                <td>{names[r.organizationId ?? ""] ?? "…"}</td>
                <td>
                  <Assignee name={userLabel(users.data, r.engineerId)} due={clock.day(r.engineerDueDate)} />
                </td>
                <td>
                  <Assignee name={userLabel(users.data, r.vcioId)} due={clock.day(r.vcioDueDate)} />
                </td>
                <td>{statusLabels[r.status ?? ""] ?? "—"}</td>
                <td>{clock.date(r.createTime)}</td>
                {writable && (
                  <td className="actions">
                    <ReassignDialog
                      review={r}
                      users={users.data ?? []}
                      label={`Reassign ${r.title}`}
                      onDone={(x) => {
                        replace(x);
                        setNotice(`“${x.title}” is reassigned.`);
                      }}
                    />
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    );
  }

  return (
    <Page
      title="Reviews"
      actions={
        writable && (
          <CreateReviewDialog
            users={users.data ?? []}
            onCreated={(r) => {
              // Mine shows the new review only if it is the person's.
              const myId = me.user?.id;
              if (show === "all" || (myId && (r.engineerId === myId || r.vcioId === myId))) setReviews((all) => [r, ...all]);
              setNotice(`“${r.title}” is created.`);
            }}
          />
        )
      }
    >
      <RadioGroup
        className="reviews-show"
        orientation="horizontal"
        value={show}
        onChange={(v) => {
          const s = v === "mine" ? "mine" : "all";
          setShow(s);
          localStorage.setItem(showKey, s);
        }}
      >
        <Label className="visually-hidden">Show</Label>
        <Radio className="reviews-show-option" value="all">
          All reviews
        </Radio>
        <Radio className="reviews-show-option" value="mine">
          Mine
        </Radio>
      </RadioGroup>
      {notice && <Alert tone="success">{notice}</Alert>}
      {users.error !== undefined && <Alert tone="warning">The users could not be read: {errorMessage(users.error)}</Alert>}
      {body}
      {error && reviews.length > 0 && <Alert tone="error">{error}</Alert>}
      {next && (
        <p className="reviews-more">
          <Button className="button secondary" isPending={loading} onPress={() => void load(next)}>
            Load more reviews
          </Button>
          <span className="muted">{reviews.length} loaded</span>
        </p>
      )}
    </Page>
  );
}

function Assignee({ name, due }: { name: string; due: string }) {
  return (
    <>
      <span className="reviews-assignee">{name}</span>
      {due && <span className="reviews-due">Due {due}</span>}
    </>
  );
}
