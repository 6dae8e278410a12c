import { NavLink, Outlet, Link as RouterLink } from "react-router";
import { homePath, navPages } from "../pages";
import { NotificationBell } from "./NotificationBell";
import { useSession } from "./session";
import { UserMenu } from "./UserMenu";

/**
 * AppShell frames every signed-in page: a skip link, the header (product, account, main
 * navigation, the notifications bell, the user menu) and the page in <main>.
 */
export function AppShell() {
  const { accountName } = useSession();
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to main content
      </a>
      <header className="app-header">
        <div className="brand">
          <RouterLink to={homePath} className="product">
            Orgplane
          </RouterLink>
          {accountName && <span className="account-name">{accountName}</span>}
        </div>
        <nav aria-label="Main" className="main-nav">
          {navPages.length > 0 && (
            <ul>
              {navPages.map((p) => (
                <li key={p.path}>
                  <NavLink to={`/${p.path}`}>{p.nav}</NavLink>
                </li>
              ))}
            </ul>
          )}
        </nav>
        <div className="header-actions">
          <NotificationBell />
          <UserMenu />
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
    </>
  );
}
