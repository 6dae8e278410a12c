import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { api, call, isAbort, type Schemas } from "../api/client";

export type Notification = Schemas["v1Notification"];

type Notifications = {
  /** The signed-in user's unread notifications; undefined until known. */
  unread: number | undefined;
  /** refreshUnread reads the count again (after marking notifications read). */
  refreshUnread: () => void;
  /** subscribe calls listener with each new notification as it arrives; returns the unsubscribe. */
  subscribe: (listener: (n: Notification) => void) => () => void;
};

const NotificationsContext = createContext<Notifications | undefined>(undefined);

/** useNotifications is the live notification state of the signed-in user (the bell, the feed). */
export function useNotifications(): Notifications {
  const n = useContext(NotificationsContext);
  if (!n) throw new Error("useNotifications outside RequireSession");
  return n;
}

// Reconnecting after a failure waits longer each time, up to maxDelay; a stream that ends
// normally (the gateway ends each after its lifetime) reconnects at once.
const firstDelay = 1_000;
const maxDelay = 30_000;
const minHealthyStream = 10_000;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** readLines calls onLine with each line of a newline-delimited body until it ends. */
async function readLines(body: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line) onLine(line);
    }
  }
}

/**
 * NotificationsProvider keeps the unread count live: it reads it once, then follows the
 * notification stream (GET .../notifications:stream, newline-delimited JSON) and reads it again
 * whenever a notification arrives, the stream reconnects, or the tab becomes visible.
 */
export function NotificationsProvider({ accountId, children }: { accountId: string; children: ReactNode }) {
  const [unread, setUnread] = useState<number>();
  const listeners = useRef(new Set<(n: Notification) => void>());

  const refreshUnread = useCallback(() => {
    call(api.GET("/v1/accounts/{accountId}/notifications:unreadCount", { params: { path: { accountId } } })).then(
      (r) => setUnread(Number(r.unreadCount ?? 0)),
      () => {
        // The count stays as it was; the next notification or visit reads it again.
      },
    );
  }, [accountId]);

  useEffect(() => {
    const ctrl = new AbortController();
    refreshUnread();
    const follow = async () => {
      let delay = firstDelay;
      while (!ctrl.signal.aborted) {
        try {
          const { response } = await api.GET("/v1/accounts/{accountId}/notifications:stream", {
            params: { path: { accountId } },
            parseAs: "stream",
            signal: ctrl.signal,
          });
          if (response.status === 401 || response.status === 403) return; // signed out, or not allowed
          if (response.ok && response.body) {
            const opened = Date.now();
            refreshUnread(); // what arrived while it was not connected
            await readLines(response.body, (line) => {
              const msg = JSON.parse(line) as { result?: Notification };
              if (msg.result) {
                refreshUnread();
                for (const l of listeners.current) l(msg.result);
              }
            });
            // A stream that lived its lifetime reconnects at once; one that keeps ending
            // early backs off like a failure.
            if (Date.now() - opened > minHealthyStream) {
              delay = firstDelay;
              continue;
            }
          }
        } catch (e) {
          if (isAbort(e) || ctrl.signal.aborted) return;
        }
        await sleep(delay, ctrl.signal);
        delay = Math.min(delay * 2, maxDelay);
      }
    };
    void follow();
    const onVisible = () => {
      if (document.visibilityState === "visible") refreshUnread();
    };
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      ctrl.abort();
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, [accountId, refreshUnread]);

  const value = useMemo(
    (): Notifications => ({
      unread,
      refreshUnread,
      subscribe: (l) => {
        listeners.current.add(l);
        return () => listeners.current.delete(l);
      },
    }),
    [unread, refreshUnread],
  );
  return <NotificationsContext.Provider value={value}>{children}</NotificationsContext.Provider>;
}
