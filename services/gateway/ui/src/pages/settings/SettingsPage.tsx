import { NavLink, useLocation } from "react-router";
import { useSession } from "../../app/session";
import { Alert } from "../../components/Alert";
import { Page } from "../../components/Page";
import { GeneralTab } from "./GeneralTab";
import { NotificationsTab } from "./NotificationsTab";
import { SubscriptionTab } from "./SubscriptionTab";
import "./settings.css";

/**
 * The Account settings sections, each its own address. General, Notifications and Subscription
 * are this page; Security, Users and Roles, and API keys are pages of their own registered at
 * the paths given here. A section shows only to a role that may read it.
 */
export const settingsSections: { path: string; label: string; permission: string }[] = [
  { path: "/settings", label: "General", permission: "account_settings:read" },
  { path: "/settings/security", label: "Security", permission: "account_settings:read" },
  { path: "/settings/users", label: "Users", permission: "users:read" },
  { path: "/settings/roles", label: "Roles", permission: "roles:read" },
  { path: "/settings/api-keys", label: "API keys", permission: "api_keys:read" },
  { path: "/settings/notifications", label: "Notifications", permission: "notifications:read" },
  { path: "/settings/subscription", label: "Subscription", permission: "subscription:read" },
];

/** SettingsNav links the Account settings sections; the current one is marked. */
export function SettingsNav() {
  const { can } = useSession();
  return (
    <nav aria-label="Account settings" className="settings-nav">
      <ul>
        {settingsSections
          .filter((s) => can(s.permission))
          .map((s) => (
            <li key={s.path}>
              <NavLink to={s.path} end>
                {s.label}
              </NavLink>
            </li>
          ))}
      </ul>
    </nav>
  );
}

/** SettingsPage is Account settings: the section its address names (/settings is General). */
export default function SettingsPage() {
  const { pathname } = useLocation();
  const { can } = useSession();
  const path = pathname.replace(/\/+$/, "");
  const section = settingsSections.find((s) => s.path === path) ?? settingsSections[0]!;
  let body;
  if (!can(section.permission)) {
    body = <Alert tone="info">Your role does not include the {section.label} settings. An administrator can change them.</Alert>;
  } else if (path === "/settings/notifications") {
    body = <NotificationsTab />;
  } else if (path === "/settings/subscription") {
    body = <SubscriptionTab />;
  } else {
    body = <GeneralTab />;
  }
  return (
    <Page title={`Account settings: ${section.label}`}>
      <SettingsNav />
      {body}
    </Page>
  );
}
