import { useState } from "react";
import { Form } from "react-aria-components";
import { Link as RouterLink, useLocation } from "react-router";
import { api, call } from "../../api/client";
import { Alert } from "../../components/Alert";
import { SubmitButton, TextInput, useApiForm } from "../../components/forms";
import { PublicPage } from "./PublicPage";

/** ForgotPasswordPage asks for a password reset link by email (/passwordReset). */
export default function ForgotPasswordPage() {
  const form = useApiForm();
  const handed = useLocation().state as { email?: string } | null;
  const [sentTo, setSentTo] = useState<string>();
  return (
    <PublicPage title="Reset your password">
      {sentTo ? (
        // The API answers the same whether or not the email has an account, and so does the page.
        <Alert tone="success">
          If {sentTo} belongs to an Orgplane user, a link to set a new password is on its way. It works once and expires
          soon; check your spam folder if it does not arrive.
        </Alert>
      ) : (
        <Form
          className="form"
          validationErrors={form.fieldErrors}
          onSubmit={form.onSubmit(async (v) => {
            const email = (v.email ?? "").trim();
            await call(api.POST("/v1/passwordResets", { body: { email } }));
            setSentTo(email);
          })}
        >
          <p>Enter the email you sign in with, and we will send you a link to set a new password.</p>
          {form.error && <Alert tone="error">{form.error}</Alert>}
          <TextInput name="email" label="Email" type="email" autoComplete="username" isRequired defaultValue={handed?.email ?? ""} autoFocus />
          <SubmitButton isPending={form.pending}>Send the link</SubmitButton>
        </Form>
      )}
      <p>
        <RouterLink to="/signin">Back to sign in</RouterLink>
      </p>
    </PublicPage>
  );
}
