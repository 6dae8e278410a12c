import { useState } from "react";
import { Button, Form } from "react-aria-components";
import { api, call, errorMessage, type Schemas } from "../../api/client";
import { useSession } from "../../app/session";
import { Alert } from "../../components/Alert";
import { SubmitButton, TextInput, useApiForm } from "../../components/forms";
import { codeInputProps, RecoveryCodes, TwoStepSetup } from "../../components/TwoStep";

type Mode =
  | { kind: "idle" }
  | { kind: "enrolling"; enrollment: Schemas["v1TwoStepEnrollment"] }
  | { kind: "codes"; codes: string[]; message: string };

/**
 * TwoStepSection turns two-step verification on (QR enrollment), shows how many recovery codes
 * are left, makes new ones and turns it off.
 */
export function TwoStepSection() {
  const { me, reload } = useSession();
  const [mode, setMode] = useState<Mode>({ kind: "idle" });
  const [notice, setNotice] = useState<string>();
  const [startError, setStartError] = useState<string>();
  const [starting, setStarting] = useState(false);
  const left = me.recoveryCodesLeft ?? 0;

  const start = async () => {
    setStarting(true);
    setStartError(undefined);
    setNotice(undefined);
    try {
      setMode({ kind: "enrolling", enrollment: await call(api.POST("/v1/me/twoStep:start", { body: {} })) });
    } catch (e) {
      setStartError(errorMessage(e));
    } finally {
      setStarting(false);
    }
  };

  let body;
  if (mode.kind === "codes") {
    body = (
      <>
        <Alert tone="success">{mode.message}</Alert>
        <RecoveryCodes
          codes={mode.codes}
          headingLevel={3}
          doneLabel="Done"
          onDone={() => {
            setMode({ kind: "idle" });
            void reload();
          }}
        />
      </>
    );
  } else if (mode.kind === "enrolling") {
    body = (
      <>
        <TwoStepSetup
          enrollment={mode.enrollment}
          confirm={async (code) => {
            const r = await call(api.POST("/v1/me/twoStep:confirm", { body: { code } }));
            setMode({ kind: "codes", codes: r.codes ?? [], message: "Two-step verification is on." });
          }}
        />
        <p>
          <Button className="button secondary" onPress={() => setMode({ kind: "idle" })}>
            Cancel
          </Button>
        </p>
      </>
    );
  } else if (!me.twoStepEnabled) {
    body = (
      <>
        {notice && <Alert tone="success">{notice}</Alert>}
        <p>
          Two-step verification is <strong>off</strong>. With it on, signing in also needs a code from an authenticator app
          on your phone.
        </p>
        {startError && <Alert tone="error">{startError}</Alert>}
        <Button className="button primary" onPress={start} isPending={starting}>
          Set up two-step verification
        </Button>
      </>
    );
  } else {
    body = (
      <>
        {notice && <Alert tone="success">{notice}</Alert>}
        <p>
          Two-step verification is <strong>on</strong>. You have {left} unused recovery code{left === 1 ? "" : "s"} left.
        </p>
        {left < 3 && <Alert tone="warning">You are running out of recovery codes. Make new ones below.</Alert>}
        <div className="subsections">
          <RegenerateCodes onCodes={(codes) => setMode({ kind: "codes", codes, message: "Your old recovery codes no longer work." })} />
          <DisableTwoStep
            hasPassword={Boolean(me.hasPassword)}
            onDisabled={async () => {
              setNotice("Two-step verification is off.");
              await reload();
            }}
          />
        </div>
      </>
    );
  }

  return (
    <section className="section" aria-labelledby="two-step-title">
      <h2 id="two-step-title">Two-step verification</h2>
      {body}
    </section>
  );
}

function RegenerateCodes({ onCodes }: { onCodes: (codes: string[]) => void }) {
  const form = useApiForm();
  return (
    <Form
      className="form narrow"
      aria-labelledby="regenerate-title"
      validationErrors={form.fieldErrors}
      onSubmit={form.onSubmit(async (v) => {
        const r = await call(api.POST("/v1/me/recoveryCodes:regenerate", { body: { code: v.code ?? "" } }));
        onCodes(r.codes ?? []);
      })}
    >
      <h3 id="regenerate-title">New recovery codes</h3>
      <p className="muted">Replaces all your recovery codes.</p>
      {form.error && <Alert tone="error">{form.error}</Alert>}
      <TextInput name="code" label="Code from your authenticator app" {...codeInputProps} />
      <SubmitButton isPending={form.pending} tone="secondary">
        Make new recovery codes
      </SubmitButton>
    </Form>
  );
}

function DisableTwoStep({ hasPassword, onDisabled }: { hasPassword: boolean; onDisabled: () => Promise<void> }) {
  const form = useApiForm();
  return (
    <Form
      className="form narrow"
      aria-labelledby="disable-title"
      validationErrors={form.fieldErrors}
      onSubmit={form.onSubmit(async (v) => {
        await call(api.POST("/v1/me/twoStep:disable", { body: { password: v.password ?? "", code: (v.code ?? "").trim() } }));
        await onDisabled();
      })}
    >
      <h3 id="disable-title">Turn off two-step verification</h3>
      {form.error && <Alert tone="error">{form.error}</Alert>}
      {hasPassword && <TextInput name="password" label="Your password" type="password" autoComplete="current-password" isRequired />}
      <TextInput
        name="code"
        label="Code from your authenticator app, or a recovery code"
        autoComplete="one-time-code"
        isRequired
      />
      <SubmitButton isPending={form.pending} tone="danger">
        Turn off two-step verification
      </SubmitButton>
    </Form>
  );
}
