import { createBrowserRouter, Navigate, type RouteObject } from "react-router";
import { AppShell } from "./app/AppShell";
import { RequireSession } from "./app/RequireSession";
import { Root, RouteError } from "./app/Root";
import { appPages, homePath } from "./pages";

const page = (load: () => Promise<{ default: React.ComponentType }>): RouteObject["lazy"] => async () => ({
  Component: (await load()).default,
});

/**
 * The routes. The public pages (sign-in and the pages email links lead to) stand alone; every
 * other page is inside the app shell and needs a session (RequireSession sends the browser to
 * /signin, keeping where it was going). Add signed-in pages in pages.ts, not here.
 */
export const routes: RouteObject[] = [
  {
    element: <Root />,
    errorElement: <RouteError />,
    children: [
      { path: "signin", lazy: page(() => import("./pages/signin/SignInPage")) },
      { path: "passwordReset", lazy: page(() => import("./pages/signin/ForgotPasswordPage")) },
      { path: "passwordResets/complete", lazy: page(() => import("./pages/signin/ResetPasswordPage")) },
      { path: "invitations/accept", lazy: page(() => import("./pages/signin/AcceptInvitationPage")) },
      {
        element: (
          <RequireSession>
            <AppShell />
          </RequireSession>
        ),
        children: [
          { index: true, element: <Navigate to={homePath} replace /> },
          ...appPages.map((p): RouteObject => ({ path: p.path, lazy: page(p.load) })),
          { path: "*", lazy: page(() => import("./pages/NotFoundPage")) },
        ],
      },
    ],
  },
];

export const createRouter = () => createBrowserRouter(routes);
