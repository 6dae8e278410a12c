import { useId, useState, type ReactNode } from "react";
import { Button } from "react-aria-components";
import { Link } from "react-router";
import { api, call, type Schemas } from "../../api/client";

export type Role = Schemas["v1Role"];
export type User = Schemas["v1User"];
export type Permissions = Schemas["v1Permissions"];
export type Level = Schemas["v1PermissionLevel"];

/** The permission areas in the order the API documents them, with what each covers. */
export const areas: { key: keyof Permissions; label: string }[] = [
  { key: "organizations", label: "Organizations" },
  { key: "reviews", label: "Reviews" },
  { key: "users", label: "Users" },
  { key: "roles", label: "Roles" },
  { key: "accountSettings", label: "Account settings" },
  { key: "integrations", label: "Integrations" },
  { key: "mappings", label: "Mappings and imports" },
  { key: "subscription", label: "Subscription" },
  { key: "apiKeys", label: "API keys" },
  { key: "groups", label: "Organization groups" },
  { key: "notifications", label: "Notifications" },
];

/** The levels a role grants an area, as the matrix's columns show them. */
export const levels: { value: Level; label: string }[] = [
  { value: "PERMISSION_LEVEL_NONE", label: "None" },
  { value: "PERMISSION_LEVEL_READ_ONLY", label: "Read-only" },
  { value: "PERMISSION_LEVEL_FULL", label: "Full" },
];

/** levelOf reads an area's level; the API leaves out NONE (and UNSPECIFIED means NONE). */
export const levelOf = (p: Permissions | undefined, area: keyof Permissions): Level => {
  const l = p?.[area];
  return !l || l === "PERMISSION_LEVEL_UNSPECIFIED" ? "PERMISSION_LEVEL_NONE" : l;
};

export const isBuiltin = (r: Role) => Boolean(r.builtin && r.builtin !== "BUILTIN_ROLE_UNSPECIFIED");

/** allPages follows next_page_token until the end; the lists here (roles, users for a picker) are small. */
async function allPages<T>(page: (token: string) => Promise<{ items: T[]; next?: string }>): Promise<T[]> {
  const out: T[] = [];
  let token = "";
  // A bound keeps a server that keeps answering with a token from looping the page forever.
  for (let i = 0; i < 50; i++) {
    const r = await page(token);
    out.push(...r.items);
    if (!r.next) break;
    token = r.next;
  }
  return out;
}

export function loadRoles(accountId: string, signal?: AbortSignal): Promise<Role[]> {
  return allPages(async (pageToken) => {
    const r = await call(
      api.GET("/v1/accounts/{accountId}/roles", { params: { path: { accountId }, query: { pageSize: 1000, pageToken } }, signal }),
    );
    return { items: r.roles ?? [], next: r.nextPageToken };
  });
}

export function loadUsers(accountId: string, signal?: AbortSignal): Promise<User[]> {
  return allPages(async (pageToken) => {
    const r = await call(
      api.GET("/v1/accounts/{accountId}/users", { params: { path: { accountId }, query: { pageSize: 1000, pageToken } }, signal }),
    );
    return { items: r.users ?? [], next: r.nextPageToken };
  });
}

export const fullName = (u: User | undefined) => [u?.firstName, u?.lastName].filter(Boolean).join(" ") || u?.email || "—";

/** roleName names a role by id, or says it is unknown (a role the page could not read). */
export const roleName = (roles: Role[] | undefined, id: string | undefined) =>
  roles?.find((r) => r.id === id)?.name ?? (id ? "Unknown role" : "—");

/**
 * SelectField is a labelled native select that shows the API's error for its name (useApiForm
 * places it in fieldErrors, since the form has an element of that name).
 */
export function SelectField({
  name,
  label,
  value,
  onChange,
  error,
  description,
  children,
  isRequired,
}: {
  name: string;
  label: string;
  value: string;
  onChange: (v: string) => void;
  error?: string;
  description?: ReactNode;
  children: ReactNode;
  isRequired?: boolean;
}) {
  const id = useId();
  const described = [description ? `${id}-d` : "", error ? `${id}-e` : ""].filter(Boolean).join(" ");
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select
        id={id}
        name={name}
        value={value}
        required={isRequired}
        aria-invalid={error ? true : undefined}
        aria-describedby={described || undefined}
        onChange={(e) => onChange(e.target.value)}
        className="access-select"
      >
        {children}
      </select>
      {description && (
        <span id={`${id}-d`} className="field-description">
          {description}
        </span>
      )}
      {error && (
        <span id={`${id}-e`} className="field-error">
          {error}
        </span>
      )}
    </div>
  );
}

/** RoleOptions are a role SelectField's options, the built-in roles marked as such. */
export function RoleOptions({ roles }: { roles: Role[] }) {
  return (
    <>
      {roles.map((r) => (
        <option key={r.id} value={r.id}>
          {r.name}
          {isBuiltin(r) ? " (built-in)" : ""}
        </option>
      ))}
    </>
  );
}

/** CopyButton copies text to the clipboard and says so. */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const [said, setSaid] = useState("");
  return (
    <span className="access-copy">
      <Button
        className="button small secondary"
        onPress={() => {
          if (!navigator.clipboard) {
            setSaid("Copying is not available here: select the text and copy it.");
            return;
          }
          navigator.clipboard.writeText(text).then(
            () => setSaid("Copied."),
            () => setSaid("Could not copy: select the text and copy it."),
          );
        }}
      >
        {label}
      </Button>
      <span role="status" className="inline-status">
        {said}
      </span>
    </span>
  );
}

/** SettingsLinks lead between the access pages (the Settings page's tabs lead to each of them too). */
export function SettingsLinks({ current }: { current: string }) {
  const links = [
    { to: "/settings/security", label: "Security" },
    { to: "/settings/users", label: "Users" },
    { to: "/settings/roles", label: "Roles" },
    { to: "/settings/api-keys", label: "API keys" },
  ];
  return (
    <nav aria-label="Access settings" className="access-links">
      <ul>
        {links.map((l) => (
          <li key={l.to}>
            <Link to={l.to} aria-current={l.to === current ? "page" : undefined}>
              {l.label}
            </Link>
          </li>
        ))}
      </ul>
    </nav>
  );
}
