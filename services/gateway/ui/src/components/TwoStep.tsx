import { useState } from "react";
import { Button, Form } from "react-aria-components";
import type { Schemas } from "../api/client";
import { Alert } from "./Alert";
import { CheckboxField, SubmitButton, TextInput, useApiForm } from "./forms";

/** codeInputProps are what a 6-digit authenticator code field takes. */
export const codeInputProps = {
  inputMode: "numeric",
  autoComplete: "one-time-code",
  maxLength: 6,
  pattern: "[0-9]{6}",
  isRequired: true,
} as const;

/** groupSecret spaces a base32 secret in fours, as authenticator apps show it, for typing. */
export const groupSecret = (s: string) => s.replace(/(.{4})/g, "$1 ").trim();

/**
 * TwoStepSetup shows a new authenticator secret (QR code and the key for typing) and asks for
 * the first code the app shows, which confirm sends. The API names the field "code".
 */
export function TwoStepSetup({
  enrollment,
  confirm,
  submitLabel = "Turn on two-step verification",
}: {
  enrollment: Schemas["v1TwoStepEnrollment"];
  confirm: (code: string) => Promise<void>;
  submitLabel?: string;
}) {
  const form = useApiForm();
  return (
    <div className="two-step-setup">
      <ol className="steps">
        <li>
          <p>Scan this QR code with an authenticator app (such as Google Authenticator, Microsoft Authenticator or 1Password).</p>
          {enrollment.qrCodePng && (
            <img
              className="qr"
              src={`data:image/png;base64,${enrollment.qrCodePng}`}
              alt="QR code holding the two-step verification key, for an authenticator app to scan"
              width={200}
              height={200}
            />
          )}
          <p>
            Or type this key into the app: <code className="secret">{groupSecret(enrollment.secret ?? "")}</code>
          </p>
        </li>
        <li>
          <Form className="form narrow" validationErrors={form.fieldErrors} onSubmit={form.onSubmit((v) => confirm(v.code ?? ""))}>
            {form.error && <Alert tone="error">{form.error}</Alert>}
            <TextInput name="code" label="Code from the app" description="The 6 digits the app shows now." {...codeInputProps} />
            <SubmitButton isPending={form.pending}>{submitLabel}</SubmitButton>
          </Form>
        </li>
      </ol>
    </div>
  );
}

/**
 * RecoveryCodes shows new recovery codes, this once, and lets the user go on only after saying
 * they saved them.
 */
export function RecoveryCodes({
  codes,
  onDone,
  doneLabel = "Continue",
  headingLevel = 2,
}: {
  codes: string[];
  onDone: () => void;
  doneLabel?: string;
  headingLevel?: 2 | 3;
}) {
  const H = headingLevel === 2 ? "h2" : "h3";
  const [saved, setSaved] = useState(false);
  const [copied, setCopied] = useState(false);
  return (
    <section className="recovery-codes" aria-labelledby="recovery-codes-title">
      <H id="recovery-codes-title">Save your recovery codes</H>
      <p>
        Each code signs you in once if you lose your authenticator app. They are shown only now: keep them somewhere safe,
        such as a password manager.
      </p>
      <ul className="codes" aria-label="Recovery codes">
        {codes.map((c) => (
          <li key={c}>
            <code>{c}</code>
          </li>
        ))}
      </ul>
      <p>
        <Button
          className="button secondary"
          onPress={() => {
            navigator.clipboard?.writeText(codes.join("\n")).then(
              () => setCopied(true),
              () => setCopied(false),
            );
          }}
        >
          Copy the codes
        </Button>
        <span role="status" className="inline-status">
          {copied ? "Copied." : ""}
        </span>
      </p>
      <CheckboxField isSelected={saved} onChange={setSaved}>
        I have saved these codes
      </CheckboxField>
      <p>
        <Button className="button primary" isDisabled={!saved} onPress={onDone}>
          {doneLabel}
        </Button>
      </p>
    </section>
  );
}
