import { useNavigate, useSearchParams } from "react-router";
import { api, call } from "../../api/client";
import { PublicPage } from "./PublicPage";
import { SetPasswordForm } from "./SetPasswordForm";
import type { SignInState } from "./SignInPage";

/** ResetPasswordPage is where a password reset email's link leads (/passwordResets/complete?token=). */
export default function ResetPasswordPage() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  return (
    <PublicPage title="Set a new password">
      <SetPasswordForm
        token={params.get("token") ?? ""}
        field="newPassword"
        submitLabel="Set the new password"
        submit={async (newPassword) => {
          await call(api.POST("/v1/passwordResets:complete", { body: { token: params.get("token") ?? "", newPassword } }));
          const state: SignInState = { notice: "Your new password is set, and your sessions elsewhere are signed out. Sign in with it." };
          navigate("/signin", { replace: true, state });
        }}
      />
    </PublicPage>
  );
}
