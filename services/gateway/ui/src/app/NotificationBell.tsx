import { Link as RouterLink } from "react-router";
import { hasPage } from "../pages";
import { useNotifications } from "./notifications";

function BellIcon() {
  return (
    <svg aria-hidden="true" viewBox="0 0 24 24" width="20" height="20" focusable="false">
      <path
        d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2Z"
        fill="currentColor"
      />
    </svg>
  );
}

/** bellLabel is what the bell says to a screen reader: where it leads and how many are unread. */
export function bellLabel(unread: number | undefined): string {
  if (unread === undefined) return "Notifications";
  if (unread === 0) return "Notifications, none unread";
  return `Notifications, ${unread} unread`;
}

/**
 * NotificationBell shows the unread count, live. It links to the feed once the app has a
 * notifications page (pages.ts); until then it only shows the count.
 */
export function NotificationBell() {
  const { unread } = useNotifications();
  const badge = unread ? (
    <span className="badge" aria-hidden="true">
      {unread > 99 ? "99+" : unread}
    </span>
  ) : null;
  if (hasPage("notifications")) {
    return (
      <RouterLink to="/notifications" className="bell" aria-label={bellLabel(unread)}>
        <BellIcon />
        {badge}
      </RouterLink>
    );
  }
  return (
    <span className="bell" role="img" aria-label={bellLabel(unread)}>
      <BellIcon />
      {badge}
    </span>
  );
}
