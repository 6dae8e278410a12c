import { useState } from "react";
import { Form } from "react-aria-components";
import { api, call } from "../../api/client";
import { useSession } from "../../app/session";
import { Alert } from "../../components/Alert";
import { fieldError, SubmitButton, TextInput, useApiForm } from "../../components/forms";
import { passwordRules } from "../signin/SetPasswordForm";

/** PasswordSection changes the signed-in person's password (POST /v1/me:changePassword). */
export function PasswordSection() {
  const { me } = useSession();
  const form = useApiForm();
  const [done, setDone] = useState(false);
  const [round, setRound] = useState(0);
  return (
    <section className="section" aria-labelledby="password-title">
      <h2 id="password-title">Password</h2>
      {!me.hasPassword ? (
        <p>You sign in through single sign-on and have no Orgplane password.</p>
      ) : (
        <Form
          key={round}
          className="form narrow"
          validationErrors={form.fieldErrors}
          onSubmit={form.onSubmit(async (v) => {
            setDone(false);
            if (v.newPassword !== v.confirmPassword) throw fieldError("confirmPassword", "Does not match the new password.");
            await call(
              api.POST("/v1/me:changePassword", {
                body: { currentPassword: v.currentPassword ?? "", newPassword: v.newPassword ?? "" },
              }),
            );
            setDone(true);
            setRound((r) => r + 1); // a fresh, empty form
          })}
        >
          {done && <Alert tone="success">Your password is changed. Your other sessions were signed out.</Alert>}
          {form.error && <Alert tone="error">{form.error}</Alert>}
          <TextInput name="currentPassword" label="Current password" type="password" autoComplete="current-password" isRequired />
          <TextInput name="newPassword" label="New password" type="password" autoComplete="new-password" isRequired description={passwordRules} />
          <TextInput name="confirmPassword" label="Confirm the new password" type="password" autoComplete="new-password" isRequired />
          <SubmitButton isPending={form.pending}>Change password</SubmitButton>
        </Form>
      )}
    </section>
  );
}
