import { useCallback, useEffect, useMemo, useState, type ReactNode } from "react";
import { api, ApiError, call, errorMessage, isAbort, setCsrfToken, type Schemas } from "../api/client";
import { Alert } from "../components/Alert";
import { Loading } from "../components/Loading";
import { browserClock, makeClock } from "../lib/dates";
import { NotificationsProvider } from "./notifications";
import { SessionContext, type CurrentUser, type Session } from "./session";

type Loaded = {
  me: CurrentUser;
  accountName: string;
  settings: Schemas["v1AccountSettings"] | undefined;
};

async function loadSession(signal?: AbortSignal): Promise<Loaded> {
  const me = await call(api.GET("/v1/me", { signal }));
  setCsrfToken(me.csrfToken);
  const accountId = me.accountId ?? "";
  const path = { params: { path: { accountId } }, signal };
  const [account, settings] = await Promise.all([
    call(api.GET("/v1/accounts/{accountId}", path)),
    // A role without account settings still uses the app; its dates are in the browser's zone.
    call(api.GET("/v1/accounts/{accountId}/settings", path)).catch((e: unknown) => {
      if (e instanceof ApiError && e.status === 403) return undefined;
      throw e;
    }),
  ]);
  return { me, accountName: account.displayName ?? "", settings };
}

/**
 * RequireSession renders its children only with a session: it reads the signed-in person and
 * their account first. Without a session the API answers 401 and the client sends the browser to
 * /signin (Root), keeping where it was going.
 */
export function RequireSession({ children }: { children: ReactNode }) {
  const [loaded, setLoaded] = useState<Loaded>();
  const [error, setError] = useState<unknown>();

  useEffect(() => {
    const ctrl = new AbortController();
    loadSession(ctrl.signal).then(setLoaded, (e: unknown) => {
      if (!isAbort(e)) setError(e);
    });
    return () => ctrl.abort();
  }, []);

  const reload = useCallback(async () => setLoaded(await loadSession()), []);

  const session = useMemo((): Session | undefined => {
    if (!loaded) return undefined;
    const permissions = new Set(loaded.me.permissions ?? []);
    return {
      ...loaded,
      accountId: loaded.me.accountId ?? "",
      clock: loaded.settings
        ? makeClock({ timeZone: loaded.settings.timeZone, dateFormat: loaded.settings.dateFormat })
        : browserClock(),
      can: (p) => permissions.has(p),
      reload,
    };
  }, [loaded, reload]);

  if (error && !(error instanceof ApiError && error.status === 401)) {
    return (
      <main id="main" className="public-page">
        <div className="card">
          <h1>Orgplane is not available</h1>
          <Alert tone="error">{errorMessage(error)}</Alert>
          <p>
            <a className="button primary" href={window.location.pathname + window.location.search}>
              Try again
            </a>
          </p>
        </div>
      </main>
    );
  }
  if (!session) {
    return (
      <main id="main" className="public-page">
        <Loading label="Loading Orgplane" />
      </main>
    );
  }
  return (
    <SessionContext.Provider value={session}>
      <NotificationsProvider accountId={session.accountId}>{children}</NotificationsProvider>
    </SessionContext.Provider>
  );
}
