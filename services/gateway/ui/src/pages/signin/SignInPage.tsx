import { useCallback, useEffect, useState } from "react";
import { Button, Form } from "react-aria-components";
import { Link as RouterLink, useLocation, useNavigate, useSearchParams } from "react-router";
import { api, ApiError, call, errorMessage, setCsrfToken, type Schemas } from "../../api/client";
import { safeNext } from "../../app/paths";
import { Alert } from "../../components/Alert";
import { CheckboxField, SubmitButton, TextInput, useApiForm } from "../../components/forms";
import { Loading } from "../../components/Loading";
import { codeInputProps, RecoveryCodes, TwoStepSetup } from "../../components/TwoStep";
import { PublicPage } from "./PublicPage";

type SignInResponse = Schemas["v1SignInResponse"];

// A sign-in goes through these steps: the password (or single sign-on, which leaves the page),
// then, as the account and the user's factors decide, a code from the authenticator app or the
// enrollment of one, and after an enrollment the new recovery codes.
type Step =
  | { kind: "password" }
  | { kind: "code"; token: string }
  | { kind: "enroll"; token: string }
  | { kind: "codes"; codes: string[] };

/** The notice another page hands over ("Your password is set"), and the email to fill in. */
export type SignInState = { notice?: string; email?: string } | null;

/**
 * Why a single sign-on came back refused, in words: the gateway sends the browser here with the
 * reason only (ssoError), never the provider's text.
 */
const ssoFailures: Record<string, string> = {
  SINGLE_SIGN_ON_REFUSED: "Your identity provider did not sign you in. Try again, or ask your administrator.",
  SINGLE_SIGN_ON_FLOW_INVALID: "That single sign-on attempt expired or was already used. Start again.",
  SINGLE_SIGN_ON_OTHER_BROWSER: "That single sign-on was started in another browser. Start again here.",
  SINGLE_SIGN_ON_NO_USER: "Your identity provider signed you in, but this account has no active user with your email. Ask your administrator to add you.",
  SINGLE_SIGN_ON_EMAIL_UNVERIFIED: "Your identity provider has not verified your email address, so it cannot sign you in here.",
  SINGLE_SIGN_ON_NO_EMAIL: "Your identity provider did not share your email address, so it cannot sign you in here.",
  SINGLE_SIGN_ON_TOKEN_REJECTED: "The answer from your identity provider could not be verified. Start again, or ask your administrator.",
  SINGLE_SIGN_ON_CODE_REFUSED: "Your identity provider refused to complete the sign-in. Start again.",
  SINGLE_SIGN_ON_PROVIDER_UNREACHABLE: "Your identity provider could not be reached. Try again in a moment.",
  SINGLE_SIGN_ON_NOT_SET_UP: "Single sign-on is not set up for this account.",
};

/** ssoFailure is the words for an ssoError reason, or a general sentence for one it does not know. */
export const ssoFailure = (reason: string | null) =>
  reason ? (ssoFailures[reason] ?? "Single sign-on did not complete. Start again, or sign in another way.") : undefined;

/** A challenge that expired, was completed or used up its tries: the sign-in starts again. */
const challengeEnded = (e: unknown) => e instanceof ApiError && "challengeToken" in e.fieldErrors;

export default function SignInPage() {
  const navigate = useNavigate();
  const location = useLocation();
  const [params] = useSearchParams();
  const next = safeNext(params.get("next"));
  const handed = location.state as SignInState;
  const [step, setStep] = useState<Step>({ kind: "password" });
  const [notice, setNotice] = useState(handed?.notice);
  const ssoError = ssoFailure(params.get("ssoError"));

  const restart = useCallback((why?: string) => {
    setNotice(why);
    setStep({ kind: "password" });
  }, []);

  const answered = (r: SignInResponse) => {
    const challenge = r.challenge;
    if (challenge?.token) {
      setNotice(undefined);
      setStep(
        challenge.kind === "SIGN_IN_CHALLENGE_KIND_TWO_STEP_ENROLLMENT"
          ? { kind: "enroll", token: challenge.token }
          : { kind: "code", token: challenge.token },
      );
      return;
    }
    setCsrfToken(r.currentUser?.csrfToken);
    if (r.recoveryCodes?.length) {
      setStep({ kind: "codes", codes: r.recoveryCodes });
      return;
    }
    navigate(next, { replace: true });
  };

  switch (step.kind) {
    case "password":
      return (
        <PublicPage title="Sign in">
          {notice && <Alert tone="info">{notice}</Alert>}
          {ssoError && !notice && <Alert tone="error">{ssoError}</Alert>}
          <PasswordStep email={handed?.email ?? ""} next={next} onAnswer={answered} onTry={() => setNotice(undefined)} />
        </PublicPage>
      );
    case "code":
      return (
        <PublicPage title="Two-step verification">
          <CodeStep token={step.token} onAnswer={answered} onRestart={restart} />
        </PublicPage>
      );
    case "enroll":
      return (
        <PublicPage title="Set up two-step verification">
          <EnrollStep token={step.token} onAnswer={answered} onRestart={restart} />
        </PublicPage>
      );
    case "codes":
      return (
        <PublicPage title="Two-step verification is on">
          <RecoveryCodes codes={step.codes} onDone={() => navigate(next, { replace: true })} />
        </PublicPage>
      );
  }
}

function PasswordStep({
  email: initialEmail,
  next,
  onAnswer,
  onTry,
}: {
  email: string;
  next: string;
  onAnswer: (r: SignInResponse) => void;
  /** onTry is called as the person tries to sign in: what was said before no longer applies. */
  onTry: () => void;
}) {
  const form = useApiForm();
  const [email, setEmail] = useState(initialEmail);
  const [needAccount, setNeedAccount] = useState(false);
  const [ssoRequired, setSsoRequired] = useState(false);
  const [sso, setSso] = useState<{ pending: boolean; error?: string }>({ pending: false });

  const signIn = form.onSubmit(async (v) => {
    onTry();
    try {
      onAnswer(
        await call(
          api.POST("/v1/signIn", {
            body: {
              email: v.email ?? "",
              password: v.password ?? "",
              ...(v.accountId ? { accountId: v.accountId } : {}),
              ...(v.breakGlass ? { breakGlass: true } : {}),
            },
          }),
        ),
      );
    } catch (e) {
      if (e instanceof ApiError && e.reason === "SINGLE_SIGN_ON_REQUIRED") {
        setSsoRequired(true);
        return;
      }
      if (e instanceof ApiError && "accountId" in e.fieldErrors && !v.accountId) {
        setNeedAccount(true);
        throw new ApiError("This email and password sign in to more than one account. Enter the ID of the account to sign in to.", {
          status: 400,
        });
      }
      throw e;
    }
  });

  const singleSignOn = async () => {
    onTry();
    if (!email.trim()) {
      setSso({ pending: false, error: "Enter your email first, then choose single sign-on." });
      return;
    }
    setSso({ pending: true });
    try {
      const r = await call(
        api.POST("/v1/singleSignOn:start", {
          body: { email: email.trim(), ...(next !== "/" ? { returnPath: next } : {}) },
        }),
      );
      // A top-level navigation to the identity provider, which comes back to the gateway's
      // callback and from there to next.
      window.location.assign(r.authorizationUrl ?? "/");
    } catch (e) {
      setSso({ pending: false, error: errorMessage(e) });
    }
  };

  return (
    <>
      {ssoRequired && (
        <Alert tone="warning">
          This account requires single sign-on: sign in through your identity provider below. An administrator who cannot
          reach the identity provider can sign in with their password as a break-glass sign-in, which is recorded for audit.
        </Alert>
      )}
      <Form validationErrors={form.fieldErrors} onSubmit={signIn} className="form">
        {form.error && <Alert tone="error">{form.error}</Alert>}
        <TextInput name="email" label="Email" type="email" autoComplete="username" isRequired value={email} onChange={setEmail} autoFocus />
        <TextInput name="password" label="Password" type="password" autoComplete="current-password" isRequired />
        {needAccount && <TextInput name="accountId" label="Account ID" isRequired description="Your administrator can tell you the account's ID." />}
        {ssoRequired && (
          <CheckboxField name="breakGlass" value="true">
            Break-glass sign-in (administrators only; recorded for audit)
          </CheckboxField>
        )}
        <SubmitButton isPending={form.pending}>Sign in</SubmitButton>
        <p>
          <RouterLink to="/passwordReset" state={{ email }}>
            Forgot your password?
          </RouterLink>
        </p>
      </Form>
      <div className="divider" role="separator">
        or
      </div>
      <section aria-labelledby="sso-title" className="form">
        <h2 id="sso-title" className="small-heading">
          Single sign-on
        </h2>
        <p className="muted">Uses the email above to find your organization's identity provider.</p>
        {sso.error && <Alert tone="error">{sso.error}</Alert>}
        <Button className="button secondary" onPress={singleSignOn} isPending={sso.pending}>
          Sign in with single sign-on
        </Button>
      </section>
    </>
  );
}

function CodeStep({ token, onAnswer, onRestart }: { token: string; onAnswer: (r: SignInResponse) => void; onRestart: (why?: string) => void }) {
  const form = useApiForm();
  const [recovery, setRecovery] = useState(false);
  const verify = form.onSubmit(async (v) => {
    try {
      onAnswer(
        await call(
          api.POST("/v1/signIn:verifyCode", {
            body: recovery
              ? { challengeToken: token, recoveryCode: (v.recoveryCode ?? "").trim() }
              : { challengeToken: token, code: (v.code ?? "").trim() },
          }),
        ),
      );
    } catch (e) {
      if (challengeEnded(e)) {
        onRestart("That sign-in expired or ran out of tries. Sign in again.");
        return;
      }
      throw e;
    }
  });
  return (
    <Form validationErrors={form.fieldErrors} onSubmit={verify} className="form">
      {form.error && <Alert tone="error">{form.error}</Alert>}
      {recovery ? (
        <TextInput key="recovery" name="recoveryCode" label="Recovery code" autoComplete="off" isRequired autoFocus description="One of the codes you saved when you set up two-step verification. Each works once." />
      ) : (
        <TextInput key="code" name="code" label="Code from your authenticator app" description="The 6 digits the app shows now." autoFocus {...codeInputProps} />
      )}
      <SubmitButton isPending={form.pending}>Verify</SubmitButton>
      <p className="form-links">
        <Button
          className="link-button"
          onPress={() => {
            form.reset();
            setRecovery(!recovery);
          }}
        >
          {recovery ? "Use a code from the app instead" : "Use a recovery code instead"}
        </Button>
        <Button className="link-button" onPress={() => onRestart()}>
          Start over
        </Button>
      </p>
    </Form>
  );
}

function EnrollStep({ token, onAnswer, onRestart }: { token: string; onAnswer: (r: SignInResponse) => void; onRestart: (why?: string) => void }) {
  const [enrollment, setEnrollment] = useState<Schemas["v1TwoStepEnrollment"]>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    let live = true;
    call(api.POST("/v1/signIn:startEnrollment", { body: { challengeToken: token } })).then(
      (e) => live && setEnrollment(e),
      (e: unknown) => {
        if (!live) return;
        if (challengeEnded(e)) onRestart("That sign-in expired. Sign in again.");
        else setError(errorMessage(e));
      },
    );
    return () => {
      live = false;
    };
  }, [token, onRestart]);

  const confirm = async (code: string) => {
    try {
      onAnswer(await call(api.POST("/v1/signIn:completeEnrollment", { body: { challengeToken: token, code } })));
    } catch (e) {
      if (challengeEnded(e)) {
        onRestart("That sign-in expired. Sign in again.");
        return;
      }
      throw e;
    }
  };

  return (
    <>
      <p>Your account requires two-step verification. Set it up now to finish signing in.</p>
      {error && <Alert tone="error">{error}</Alert>}
      {!enrollment && !error && <Loading label="Preparing your two-step verification key" />}
      {enrollment && <TwoStepSetup enrollment={enrollment} confirm={confirm} submitLabel="Turn on and sign in" />}
      <p className="form-links">
        <Button className="link-button" onPress={() => onRestart()}>
          Start over
        </Button>
      </p>
    </>
  );
}
