import { Button, Menu, MenuItem, MenuTrigger, Popover } from "react-aria-components";
import { useNavigate } from "react-router";
import { api, ApiError, call, setCsrfToken } from "../api/client";
import { useSession } from "./session";

/** displayName is how the app names a user: their name, else their email. */
export function displayName(u: { firstName?: string; lastName?: string; email?: string } | undefined): string {
  const name = [u?.firstName, u?.lastName].filter(Boolean).join(" ");
  return name || u?.email || "";
}

function initials(name: string): string {
  const parts = name.split(/[\s@.]+/).filter(Boolean);
  return ((parts[0]?.[0] ?? "") + (parts.length > 1 ? (parts[1]?.[0] ?? "") : "")).toUpperCase() || "?";
}

/** UserMenu is the signed-in person's menu: My account, Sign out. */
export function UserMenu() {
  const { me } = useSession();
  const navigate = useNavigate();
  const name = displayName(me.user);

  const signOut = async () => {
    let notice = "You are signed out.";
    try {
      await call(api.POST("/v1/signOut", { body: {} }));
    } catch (e) {
      // 401: the session had already ended, which is what the user asked for.
      if (!(e instanceof ApiError && e.status === 401)) {
        notice = "The server could not be reached to end your session; it ends by itself when it times out.";
      }
    }
    setCsrfToken("");
    navigate("/signin", { replace: true, state: { notice } });
  };

  return (
    <MenuTrigger>
      <Button className="user-button" aria-label={`User menu (${name})`}>
        <span className="avatar" aria-hidden="true">
          {initials(name)}
        </span>
        <span className="user-name">{name}</span>
      </Button>
      <Popover placement="bottom end" className="popover">
        <Menu
          className="menu"
          onAction={(key) => {
            if (key === "signout") void signOut();
          }}
        >
          <MenuItem id="account" href="/account" className="menu-item">
            My account
          </MenuItem>
          <MenuItem id="signout" className="menu-item">
            Sign out
          </MenuItem>
        </Menu>
      </Popover>
    </MenuTrigger>
  );
}
