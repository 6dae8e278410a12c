import { createContext, useContext } from "react";
import type { Schemas } from "../api/client";
import type { Clock } from "../lib/dates";

export type CurrentUser = Schemas["v1CurrentUser"];

export type Session = {
  /** The signed-in person (GET /v1/me). */
  me: CurrentUser;
  /** Their account's id, for every /v1/accounts/{accountId}/... call. */
  accountId: string;
  /** The account's name (GET /v1/accounts/{accountId}). */
  accountName: string;
  /**
   * The account's settings, undefined when the user's role may not read them; dates then use
   * the browser's zone.
   */
  settings: Schemas["v1AccountSettings"] | undefined;
  /** Shows dates in the account's time zone and date format. */
  clock: Clock;
  /** can reports whether the role grants a permission, as the API names them: "organizations:write". */
  can: (permission: string) => boolean;
  /** reload reads the person and the account again (after changing two-step or the settings). */
  reload: () => Promise<void>;
};

export const SessionContext = createContext<Session | undefined>(undefined);

/** useSession is the signed-in session; only pages inside the app shell have one. */
export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error("useSession outside RequireSession");
  return s;
}

/** useClock formats dates in the account's time zone and date format. */
export const useClock = () => useSession().clock;
