import type { ComponentType } from "react";

/**
 * A page of the signed-in app: its path under "/", the label it has in the main navigation (none:
 * reached from elsewhere, such as My account from the user menu), and its module, loaded when
 * first visited so that each page is its own chunk. The module's default export is the page.
 */
export type AppPage = {
  path: string;
  nav?: string;
  load: () => Promise<{ default: ComponentType }>;
};

/**
 * The signed-in pages. The navigation lists those with a nav label, in this order:
 * Organizations, Setup Organizations, Integrations, Reviews, Settings. Add a page with one entry
 * here; a page that is not built yet has no entry (and so no link). The bell links to the page
 * at "notifications" once there is one.
 */
export const appPages: AppPage[] = [
  // @organizations
  { path: "organizations", nav: "Organizations", load: () => import("./pages/organizations/OrganizationsPage") },
  { path: "organizations/new", load: () => import("./pages/organizations/OrganizationPage") },
  { path: "organizations/:organizationId", load: () => import("./pages/organizations/OrganizationPage") },
  // @setup-organizations
  { path: "setup-organizations", nav: "Setup Organizations", load: () => import("./pages/setup/SetupOrganizationsPage") },
  // @integrations
  { path: "integrations", nav: "Integrations", load: () => import("./pages/integrations/IntegrationsPage") },
  { path: "integrations/:integrationId", load: () => import("./pages/integrations/IntegrationPage") },
  // @reviews
  { path: "reviews", nav: "Reviews", load: () => import("./pages/reviews/ReviewsPage") },
  { path: "reviews/:reviewId", load: () => import("./pages/reviews/ReviewPage") },
  // @settings
  { path: "settings", nav: "Settings", load: () => import("./pages/settings/SettingsPage") },
  { path: "settings/notifications", load: () => import("./pages/settings/SettingsPage") },
  { path: "settings/subscription", load: () => import("./pages/settings/SettingsPage") },
  // @settings-access
  { path: "settings/security", load: () => import("./pages/settings-access/SecurityPage") },
  { path: "settings/users", load: () => import("./pages/settings-access/UsersPage") },
  { path: "settings/users/:userId", load: () => import("./pages/settings-access/UserPage") },
  { path: "settings/roles", load: () => import("./pages/settings-access/RolesPage") },
  { path: "settings/api-keys", load: () => import("./pages/settings-access/ApiKeysPage") },
  // @notifications
  { path: "notifications", load: () => import("./pages/notifications/NotificationsPage") },
  { path: "account", load: () => import("./pages/account/AccountPage") },
];

/** navPages are the pages the main navigation links to. */
export const navPages = appPages.filter((p): p is AppPage & { nav: string } => Boolean(p.nav));

/** hasPage reports whether a page is registered at path. */
export const hasPage = (path: string) => appPages.some((p) => p.path === path);

/** homePath is where "/" and the product name lead: the first page of the navigation. */
export const homePath = `/${navPages[0]?.path ?? "account"}`;
