import { Form } from "react-aria-components";
import { Link as RouterLink } from "react-router";
import { ApiError } from "../../api/client";
import { Alert } from "../../components/Alert";
import { fieldError, SubmitButton, TextInput, useApiForm } from "../../components/forms";

export const passwordRules = "At least 12 characters. Not a common password, and not your email or name.";

/**
 * SetPasswordForm sets a password with the token of an email link (an invitation or a password
 * reset). field is the API's name of the new password in that call; submit sends it.
 */
export function SetPasswordForm({
  token,
  field,
  submitLabel,
  submit,
}: {
  token: string;
  field: "password" | "newPassword";
  submitLabel: string;
  submit: (password: string) => Promise<void>;
}) {
  const form = useApiForm();
  if (!token) {
    return (
      <>
        <Alert tone="error">This link is incomplete. Open the link from the email again, or copy all of it into the address bar.</Alert>
        <p>
          <RouterLink to="/signin">Go to sign in</RouterLink>
        </p>
      </>
    );
  }
  return (
    <Form
      className="form"
      validationErrors={form.fieldErrors}
      onSubmit={form.onSubmit(async (v) => {
        const password = v[field] ?? "";
        if (password !== v.confirmPassword) throw fieldError("confirmPassword", "Does not match the new password.");
        try {
          await submit(password);
        } catch (e) {
          // The token is not a field of the form: what is wrong with it is said about the link.
          const problem = e instanceof ApiError ? e.fieldErrors.token : undefined;
          if (problem) {
            throw new ApiError(problem.startsWith("Is ") ? `This link ${problem.slice(0, 1).toLowerCase()}${problem.slice(1)}` : problem, {
              status: 400,
            });
          }
          throw e;
        }
      })}
    >
      {form.error && <Alert tone="error">{form.error}</Alert>}
      <TextInput name={field} label="New password" type="password" autoComplete="new-password" isRequired description={passwordRules} autoFocus />
      <TextInput name="confirmPassword" label="Confirm the new password" type="password" autoComplete="new-password" isRequired />
      <SubmitButton isPending={form.pending}>{submitLabel}</SubmitButton>
    </Form>
  );
}
