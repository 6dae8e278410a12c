import { useNavigate, useSearchParams } from "react-router";
import { api, call } from "../../api/client";
import { PublicPage } from "./PublicPage";
import { SetPasswordForm } from "./SetPasswordForm";
import type { SignInState } from "./SignInPage";

/** AcceptInvitationPage is where an invitation email's link leads (/invitations/accept?token=). */
export default function AcceptInvitationPage() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  return (
    <PublicPage title="Welcome to Orgplane">
      <p>Choose the password you will sign in with.</p>
      <SetPasswordForm
        token={params.get("token") ?? ""}
        field="password"
        submitLabel="Set my password"
        submit={async (password) => {
          const r = await call(api.POST("/v1/invitations:accept", { body: { token: params.get("token") ?? "", password } }));
          const state: SignInState = { notice: "Your password is set. Sign in with it.", email: r.email ?? "" };
          navigate("/signin", { replace: true, state });
        }}
      />
    </PublicPage>
  );
}
