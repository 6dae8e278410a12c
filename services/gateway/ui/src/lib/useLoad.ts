import { useCallback, useEffect, useState, type DependencyList } from "react";
import { isAbort } from "../api/client";

export type Loaded<T> = {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  /** reload runs the load again (after a change). */
  reload: () => void;
  /** setData replaces the data with what a change answered, without loading again. */
  setData: (data: T) => void;
};

/**
 * useLoad runs load when the page shows and whenever deps change, cancelling the request of a
 * page that went away:
 *
 *   const sessions = useLoad((signal) => call(api.GET("/v1/me/sessions", { signal })), []);
 *   if (sessions.loading) return <Loading label="Loading sessions" />;
 */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: DependencyList): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({
    data: undefined,
    error: undefined,
    loading: true,
  });
  const [round, setRound] = useState(0);
  useEffect(() => {
    const ctrl = new AbortController();
    setState((s) => ({ ...s, loading: true, error: undefined }));
    load(ctrl.signal).then(
      (data) => setState({ data, error: undefined, loading: false }),
      (error: unknown) => {
        if (!isAbort(error)) setState((s) => ({ ...s, error, loading: false }));
      },
    );
    return () => ctrl.abort();
    // load is a new function on every render; deps say when it means something new.
  }, [...deps, round]);
  const reload = useCallback(() => setRound((r) => r + 1), []);
  const setData = useCallback((data: T) => setState({ data, error: undefined, loading: false }), []);
  return { ...state, reload, setData };
}
