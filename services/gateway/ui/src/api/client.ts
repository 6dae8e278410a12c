import createClient, { type Middleware } from "openapi-fetch";
import { ApiError, networkError, parseError } from "./errors";
import type { components, paths } from "./schema";

export { ApiError } from "./errors";

/** The API's schemas by name: Schemas["v1Organization"]. */
export type Schemas = components["schemas"];

// The session itself is an HttpOnly cookie the page never sees. What the page holds is the
// session's CSRF token, which every request that changes something must carry; it comes with
// the sign-in answer and with GET /v1/me, and lives in memory only.
let csrfToken = "";

export function setCsrfToken(token: string | undefined): void {
  csrfToken = token ?? "";
}

let unauthenticated: ((hadSession: boolean) => void) | undefined;

/**
 * onUnauthenticated sets what happens when a call that needs a session gets 401: the app sends
 * the user to /signin, keeping where they were. hadSession tells a session that ended (timed out,
 * revoked elsewhere) from a visit that never had one.
 */
export function onUnauthenticated(handler: ((hadSession: boolean) => void) | undefined): void {
  unauthenticated = handler;
}

// The routes that take no session: their 401 is an answer to the form (a wrong password), not
// a sign that the session is gone.
const publicRoute = /^\/v1\/(signIn|passwordResets|invitations:accept|singleSignOn)/;

const safeMethods = new Set(["GET", "HEAD", "OPTIONS"]);

const session: Middleware = {
  onRequest({ request }) {
    if (!safeMethods.has(request.method) && csrfToken) {
      request.headers.set("X-CSRF-Token", csrfToken);
    }
    return request;
  },
  onResponse({ request, response }) {
    if (response.status === 401 && !publicRoute.test(new URL(request.url).pathname)) {
      const hadSession = csrfToken !== "";
      csrfToken = "";
      unauthenticated?.(hadSession);
    }
    return response;
  },
};

// The API document declares X-CSRF-Token on the session routes that change something, as a
// required header; the client sends it on every such request itself, so calls need not.
type OptionalCsrf<Op> = Op extends { parameters: { header: infer H } }
  ? Omit<Op, "parameters"> & { parameters: Omit<Op["parameters"], "header"> & { header?: Partial<H> } }
  : Op;
type ClientPaths = { [P in keyof paths]: { [M in keyof paths[P]]: OptionalCsrf<paths[P][M]> } };

/**
 * api is the typed client of the REST API (types generated from the OpenAPI document into
 * schema.d.ts by `npm run gen:api`). Prefer call(): it returns the data or throws an ApiError.
 */
export const api = createClient<ClientPaths>({
  baseUrl: typeof window === "undefined" ? "http://localhost" : window.location.origin,
  credentials: "same-origin",
});
api.use(session);

type Answer<T> = { data?: T; error?: unknown; response: Response };

/**
 * call awaits one API request and returns its data, or throws an ApiError that says what went
 * wrong: fieldErrors for a form, the Retry-After of a 429, the reason of a refusal.
 *
 *   const me = await call(api.GET("/v1/me"));
 */
export async function call<T>(request: Promise<Answer<T>>): Promise<NonNullable<T>> {
  let answer: Answer<T>;
  try {
    answer = await request;
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") throw e;
    throw networkError();
  }
  if (!answer.response.ok) {
    throw parseError(answer.response.status, answer.error, answer.response.headers);
  }
  // Every answer of this API is a JSON object, {} at least.
  return (answer.data ?? {}) as NonNullable<T>;
}

/** isAbort tells a request cancelled on purpose (the page left) from a failure to report. */
export function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === "AbortError";
}

/** errorMessage is what to tell the user about any error. */
export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  return "Something went wrong. Reload the page and try again.";
}
