import { useState } from "react";
import { Button } from "react-aria-components";
import { useNavigate } from "react-router";
import { api, ApiError, call, errorMessage } from "../../api/client";
import { useSession } from "../../app/session";
import { Alert } from "../../components/Alert";
import { ConfirmButton } from "../../components/ConfirmButton";
import { operationDone, type Integration, type Operation } from "./common";

type Mode = "DISCONNECT_MODE_PAUSE" | "DISCONNECT_MODE_KEEP_DATA" | "DISCONNECT_MODE_DELETE_DATA";

const choices: { mode: Mode; label: string; title: string; explain: string }[] = [
  {
    mode: "DISCONNECT_MODE_PAUSE",
    label: "Pause",
    title: "Pause this integration?",
    explain:
      "Nothing refreshes or syncs until you resume it. The integration, its cached organizations and their links all stay, and Resume picks up where it left off.",
  },
  {
    mode: "DISCONNECT_MODE_KEEP_DATA",
    label: "Disconnect, keep organizations",
    title: "Disconnect and keep the organizations?",
    explain:
      "The integration goes, with its credentials, its cached organizations and their links to Orgplane organizations. Every Orgplane organization stays.",
  },
  {
    mode: "DISCONNECT_MODE_DELETE_DATA",
    label: "Disconnect and delete its organizations",
    title: "Disconnect and delete its organizations?",
    explain:
      "As above, and the Orgplane organizations this integration's sync brought in are deleted too, with their sub-organizations. This cannot be undone.",
  },
];

/** DisconnectSection offers the ways to stop an integration, each explained before it is confirmed. */
export function DisconnectSection({ integration, onChange }: { integration: Integration; onChange: () => void }) {
  const { accountId, can } = useSession();
  const navigate = useNavigate();
  const [resuming, setResuming] = useState(false);
  const [error, setError] = useState<string>();
  if (!can("integrations:write")) return null;
  const integrationId = integration.id ?? "";
  const name = integration.displayName || "this integration";

  const integrationGone = () =>
    call(api.GET("/v1/accounts/{accountId}/integrations/{integrationId}", { params: { path: { accountId, integrationId } } })).then(
      () => false,
      (e: unknown) => e instanceof ApiError && e.status === 404,
    );

  const waitFor = async (op: Operation) => {
    let o = op;
    // Pausing and keeping data end at once; deleting the organizations takes a while.
    while (!operationDone(o)) {
      await new Promise((r) => setTimeout(r, 1000));
      try {
        o = await call(api.GET("/v1/accounts/{accountId}/operations/{operationId}", { params: { path: { accountId, operationId: o.id ?? "" } } }));
      } catch (e) {
        // Deleting the data ends by removing the integration, and its operations with it: the
        // operation gone along with the integration is the disconnect's success.
        if (e instanceof ApiError && e.status === 404 && (await integrationGone())) return o;
        throw e;
      }
    }
    if (o.state === "OPERATION_STATE_FAILED") throw new ApiError(o.error?.message || "The disconnection failed.", { status: 500 });
    return o;
  };

  const disconnect = async (mode: Mode) => {
    const op = await call(
      api.POST("/v1/accounts/{accountId}/integrations/{integrationId}:disconnect", { params: { path: { accountId, integrationId } }, body: { mode } }),
    );
    await waitFor(op);
    if (mode === "DISCONNECT_MODE_PAUSE") {
      onChange();
      return;
    }
    navigate("/integrations", { replace: true });
  };

  const resume = async () => {
    setResuming(true);
    setError(undefined);
    try {
      await call(api.POST("/v1/accounts/{accountId}/integrations/{integrationId}:resume", { params: { path: { accountId, integrationId } }, body: {} }));
      onChange();
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setResuming(false);
    }
  };

  return (
    <section className="section" aria-labelledby="integration-disconnect-title">
      <h3 id="integration-disconnect-title">Pause or disconnect</h3>
      {error && <Alert tone="error">{error}</Alert>}
      {integration.paused && (
        <div className="choice-row integrations-choice">
          <p>
            <strong>{name} is paused.</strong> Nothing refreshes or syncs until it resumes.
          </p>
          <Button className="button primary" onPress={() => void resume()} isPending={resuming}>
            Resume
          </Button>
        </div>
      )}
      <ul className="integrations-choices">
        {choices
          .filter((c) => !(integration.paused && c.mode === "DISCONNECT_MODE_PAUSE"))
          .map((c) => (
            <li key={c.mode} className="choice-row integrations-choice">
              <div>
                <strong>{c.label}</strong>
                <p className="muted">{c.explain}</p>
              </div>
              <ConfirmButton
                label={c.label}
                title={c.title}
                confirmLabel={c.label}
                tone={c.mode === "DISCONNECT_MODE_PAUSE" ? "primary" : "danger"}
                onConfirm={() => disconnect(c.mode)}
              >
                <p>{c.explain}</p>
              </ConfirmButton>
            </li>
          ))}
      </ul>
    </section>
  );
}
