import { useCallback, useEffect, useRef, useState } from "react";
import { Button } from "react-aria-components";
import { Link as RouterLink } from "react-router";
import { api, call, errorMessage } from "../../api/client";
import { useNotifications, type Notification } from "../../app/notifications";
import { useClock, useSession } from "../../app/session";
import { Alert } from "../../components/Alert";
import { EmptyState } from "../../components/EmptyState";
import { Loading } from "../../components/Loading";
import { Page } from "../../components/Page";
import "./notifications.css";

const pageSize = 25;

/** internalLink is the notification's link when it leads inside the app (a path), else undefined. */
const internalLink = (n: Notification) => (n.link?.startsWith("/") && !n.link.startsWith("//") ? n.link : undefined);

/**
 * NotificationsPage is the signed-in person's feed, newest first: unread ones stand out, each
 * leads to what it is about and can be marked read, or all at once. It follows the app's live
 * unread count, so what arrives while the page is open shows without reloading.
 */
export default function NotificationsPage() {
  const { accountId } = useSession();
  const clock = useClock();
  const { unread, refreshUnread, subscribe } = useNotifications();
  const [items, setItems] = useState<Notification[]>([]);
  const [next, setNext] = useState<string>();
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string>();
  const [marking, setMarking] = useState<string>();
  const loaded = useRef(0);

  // first reads the newest page again, keeping older pages already shown that it does not cover.
  const first = useCallback(
    async (signal?: AbortSignal) => {
      try {
        const r = await call(
          api.GET("/v1/accounts/{accountId}/notifications", {
            params: { path: { accountId }, query: { pageSize: Math.max(pageSize, loaded.current) } },
            ...(signal ? { signal } : {}),
          }),
        );
        const got = r.notifications ?? [];
        loaded.current = got.length;
        setItems(got);
        setNext(r.nextPageToken || undefined);
        setError(undefined);
      } catch (e) {
        if (!signal?.aborted) setError(errorMessage(e));
      } finally {
        if (!signal?.aborted) setLoading(false);
      }
    },
    [accountId],
  );

  const more = async () => {
    if (!next) return;
    setLoading(true);
    try {
      const r = await call(
        api.GET("/v1/accounts/{accountId}/notifications", { params: { path: { accountId }, query: { pageSize, pageToken: next } } }),
      );
      setItems((all) => {
        const seen = new Set(all.map((n) => n.id));
        const merged = [...all, ...(r.notifications ?? []).filter((n) => !seen.has(n.id))];
        loaded.current = merged.length;
        return merged;
      });
      setNext(r.nextPageToken || undefined);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setLoading(false);
    }
  };

  // Read again whenever the unread count changes (a notification arrived, or was read in another
  // tab) and whenever the stream delivers one.
  useEffect(() => {
    const ctrl = new AbortController();
    void first(ctrl.signal);
    return () => ctrl.abort();
  }, [first, unread]);
  useEffect(() => subscribe(() => void first()), [subscribe, first]);

  const markRead = async (n: Notification) => {
    setMarking(n.id);
    setError(undefined);
    try {
      const done = await call(
        api.POST("/v1/accounts/{accountId}/notifications/{notificationId}:markRead", {
          params: { path: { accountId, notificationId: n.id ?? "" } },
          body: {},
        }),
      );
      setItems((all) => all.map((x) => (x.id === n.id ? { ...x, readTime: done.readTime ?? new Date().toISOString() } : x)));
      refreshUnread();
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setMarking(undefined);
    }
  };

  const [markingAll, setMarkingAll] = useState(false);
  const markAll = async () => {
    setMarkingAll(true);
    setError(undefined);
    try {
      await call(api.POST("/v1/accounts/{accountId}/notifications:markAllRead", { params: { path: { accountId } }, body: {} }));
      refreshUnread();
      await first();
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setMarkingAll(false);
    }
  };

  const unreadShown = items.some((n) => !n.readTime);
  let body;
  if (loading && items.length === 0) {
    body = <Loading label="Loading notifications" />;
  } else if (error && items.length === 0) {
    body = <Alert tone="error">{error}</Alert>;
  } else if (items.length === 0) {
    body = (
      <EmptyState title="No notifications yet">
        <p>Reviews assigned to you, changes to them and integrations that need attention show up here.</p>
      </EmptyState>
    );
  } else {
    body = (
      <ul className="notifications-feed" aria-label="Notifications, newest first">
        {items.map((n) => {
          const isUnread = !n.readTime;
          const link = internalLink(n);
          return (
            <li key={n.id} className={`notifications-item${isUnread ? " notifications-unread" : ""}`}>
              <div className="notifications-text">
                <p className="notifications-title">
                  {isUnread && <span className="notifications-dot" aria-hidden="true" />}
                  {isUnread && <span className="visually-hidden">Unread: </span>}
                  {link ? (
                    <RouterLink to={link} onClick={() => isUnread && void markRead(n)}>
                      {n.title}
                    </RouterLink>
                  ) : (
                    n.title
                  )}
                </p>
                {n.body && <p className="notifications-body">{n.body}</p>}
                <p className="notifications-time">{clock.dateTime(n.createTime)}</p>
              </div>
              {isUnread && (
                <Button
                  className="button small secondary"
                  aria-label={`Mark read: ${n.title}`}
                  isPending={marking === n.id}
                  onPress={() => void markRead(n)}
                >
                  Mark read
                </Button>
              )}
            </li>
          );
        })}
      </ul>
    );
  }

  return (
    <Page
      title="Notifications"
      actions={
        unreadShown || (unread ?? 0) > 0 ? (
          <Button className="button secondary" isPending={markingAll} onPress={() => void markAll()}>
            Mark all read
          </Button>
        ) : undefined
      }
    >
      <p className="muted" role="status">
        {unread === undefined ? "" : unread === 0 ? "You have read everything." : `${unread} unread.`}
      </p>
      {error && items.length > 0 && <Alert tone="error">{error}</Alert>}
      {body}
      {next && (
        <p className="notifications-more">
          <Button className="button secondary" isPending={loading} onPress={() => void more()}>
            Load older notifications
          </Button>
        </p>
      )}
    </Page>
  );
}
