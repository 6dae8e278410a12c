import { useEffect } from "react";
import { RouterProvider as AriaRouterProvider } from "react-aria-components";
import { Outlet, useHref, useNavigate, useRouteError, type NavigateOptions } from "react-router";
import { onUnauthenticated } from "../api/client";
import { isPublicPath, signInPath } from "./paths";

declare module "react-aria-components" {
  interface RouterConfig {
    routerOptions: NavigateOptions;
  }
}

/**
 * Root wires the app to the router: react-aria's links and menu items navigate inside the app,
 * and a call that finds its session gone (401) sends the user to sign in, then back.
 */
export function Root() {
  const navigate = useNavigate();
  useEffect(() => {
    onUnauthenticated((hadSession) => {
      const here = window.location.pathname + window.location.search;
      if (!isPublicPath(window.location.pathname)) {
        const state = hadSession ? { notice: "Your session has ended. Sign in again." } : null;
        navigate(signInPath(here), { replace: true, state });
      }
    });
    return () => onUnauthenticated(undefined);
  }, [navigate]);
  return (
    <AriaRouterProvider navigate={navigate} useHref={useHref}>
      <Outlet />
    </AriaRouterProvider>
  );
}

/** RouteError is shown when a page failed to load or render (a new build replaced its chunk). */
export function RouteError() {
  const error = useRouteError();
  console.error(error);
  return (
    <main id="main" className="public-page">
      <div className="card">
        <h1>Something went wrong</h1>
        <p>This page could not be shown. Reloading usually fixes it.</p>
        <p>
          <a className="button primary" href={window.location.pathname + window.location.search}>
            Reload the page
          </a>
        </p>
      </div>
    </main>
  );
}
