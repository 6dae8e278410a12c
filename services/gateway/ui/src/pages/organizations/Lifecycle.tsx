import { useState } from "react";
import { Button, DialogTrigger } from "react-aria-components";
import { useNavigate } from "react-router";
import { api, ApiError, call, errorMessage, type Schemas } from "../../api/client";
import { useClock, useSession } from "../../app/session";
import { Alert } from "../../components/Alert";
import { ConfirmButton } from "../../components/ConfirmButton";
import { Loading } from "../../components/Loading";
import { DialogActions, ModalDialog } from "../../components/ModalDialog";
import { canReactivateOn, loadSubtree, reactivationDay, type Organization } from "./model";

/**
 * LifecycleSection deactivates, reactivates and deletes an organization, saying before each
 * what it does: the 12-month rule with its date, and the sub-organizations a delete takes.
 */
export function LifecycleSection({ org, onChanged }: { org: Organization; onChanged: (o: Organization) => void }) {
  const { accountId } = useSession();
  const clock = useClock();
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  const path = { accountId, organizationId: org.id ?? "" };
  const inactive = org.state === "ORGANIZATION_STATE_INACTIVE";
  const allowedDay = reactivationDay(org.deactivateTime);
  const canReactivate = canReactivateOn(org.deactivateTime, new Date());
  // Deactivating now allows a reactivation 12 months from today.
  const ifDeactivatedNow = clock.day(reactivationDay(new Date().toISOString()));

  return (
    <section className="section orgs-lifecycle" aria-labelledby="orgs-lifecycle-title">
      <h2 id="orgs-lifecycle-title">Deactivate or delete</h2>
      {error && <Alert tone="error">{error}</Alert>}
      {inactive ? (
        <div className="choice-row orgs-lifecycle-row">
          <div>
            <p>
              <strong>Deactivated</strong> on {clock.date(org.deactivateTime)}. Its data is kept and it holds no license.
            </p>
            <p id="orgs-reactivation">
              {canReactivate
                ? "It can be reactivated now; that takes a license again."
                : `It can be reactivated from ${clock.day(allowedDay)}, 12 months after its deactivation.`}
            </p>
          </div>
          <Button
            className="button secondary"
            isDisabled={!canReactivate}
            isPending={pending}
            aria-describedby="orgs-reactivation"
            onPress={() => {
              setPending(true);
              setError(undefined);
              call(api.POST("/v1/accounts/{accountId}/organizations/{organizationId}:reactivate", { params: { path }, body: {} }))
                .then(onChanged, (e: unknown) => setError(errorMessage(e)))
                .finally(() => setPending(false));
            }}
          >
            Reactivate
          </Button>
        </div>
      ) : (
        <div className="choice-row orgs-lifecycle-row">
          <p>Deactivating keeps all its data and frees its license. It can be reactivated only 12 months later.</p>
          <ConfirmButton
            label="Deactivate"
            title={`Deactivate ${org.name}?`}
            confirmLabel="Deactivate"
            onConfirm={async () => {
              setError(undefined);
              onChanged(await call(api.POST("/v1/accounts/{accountId}/organizations/{organizationId}:deactivate", { params: { path }, body: {} })));
            }}
          >
            <p>Its data stays and its license is freed.</p>
            <p>
              It cannot be reactivated before <strong>{ifDeactivatedNow}</strong> (12 months from today).
            </p>
          </ConfirmButton>
        </div>
      )}
      <div className="choice-row orgs-lifecycle-row">
        <p>Deleting removes the organization, its sub-organizations and everything that belongs to them, for good.</p>
        <DeleteButton org={org} />
      </div>
    </section>
  );
}

type Sub = Organization & { depth: number };
type Blocker = { org: Organization; sync: Schemas["v1OrganizationSync"] };
type Plan = { subs: Sub[]; blockers: Blocker[] };

/**
 * DeleteButton asks before deleting, listing the sub-organizations the delete takes. While any
 * of them is kept in sync with an external tool, the API refuses: the dialog says which and
 * offers to disable that sync first.
 */
function DeleteButton({ org }: { org: Organization }) {
  const { accountId, can } = useSession();
  const navigate = useNavigate();
  const [plan, setPlan] = useState<Plan>();
  const [loadError, setLoadError] = useState<string>();
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  const [round, setRound] = useState(0);

  const load = async (signal?: AbortSignal) => {
    setPlan(undefined);
    setLoadError(undefined);
    try {
      const subs = await loadSubtree(accountId, org.id ?? "", signal);
      const members: Organization[] = [org, ...subs];
      const blockers: Blocker[] = [];
      await Promise.all(
        members.map(async (m) => {
          try {
            const r = await call(
              api.GET("/v1/accounts/{accountId}/organizations/{organizationId}/syncs", {
                params: { path: { accountId, organizationId: m.id ?? "" }, query: { pageSize: 1000 } },
                signal,
              }),
            );
            for (const s of r.syncs ?? []) if (s.blocksDeletion) blockers.push({ org: m, sync: s });
          } catch (e) {
            // A role that may not read integrations learns of a sync from the API's refusal.
            if (!(e instanceof ApiError && e.status === 403)) throw e;
          }
        }),
      );
      setPlan({ subs, blockers });
    } catch (e) {
      setLoadError(errorMessage(e));
    }
  };

  const disableSync = async (b: Blocker) => {
    setError(undefined);
    try {
      await call(
        api.POST("/v1/accounts/{accountId}/integrations/{integrationId}/externalOrganizations/{externalId}:disableSync", {
          params: { path: { accountId, integrationId: b.sync.integrationId ?? "", externalId: b.sync.externalId ?? "" } },
          body: {},
        }),
      );
      setRound((r) => r + 1);
      await load();
    } catch (e) {
      setError(errorMessage(e));
    }
  };

  const blocked = (plan?.blockers.length ?? 0) > 0;
  return (
    <DialogTrigger
      onOpenChange={(open) => {
        setError(undefined);
        if (open) void load();
      }}
    >
      <Button className="button danger-outline">Delete</Button>
      <ModalDialog title={`Delete ${org.name}?`} role="alertdialog" isDismissable={!pending}>
        {(close) => (
          <>
            <div className="dialog-body" key={round}>
              {loadError ? (
                <Alert tone="error">{loadError}</Alert>
              ) : !plan ? (
                <Loading label="Finding its sub-organizations" />
              ) : (
                <>
                  {plan.subs.length === 0 ? (
                    <p>It has no sub-organizations. Everything that belongs to it is deleted with it.</p>
                  ) : (
                    <>
                      <p>
                        These {plan.subs.length} sub-organization{plan.subs.length === 1 ? " is" : "s are"} deleted with it:
                      </p>
                      <ul className="orgs-subtree" aria-label="Sub-organizations deleted with it">
                        {plan.subs.map((s) => (
                          <li key={s.id} className={`orgs-depth-${Math.min(s.depth, 4)}`}>
                            {s.name}
                          </li>
                        ))}
                      </ul>
                    </>
                  )}
                  {blocked && (
                    <Alert tone="warning">
                      <p>
                        <strong>Disable sync first.</strong> The API refuses to delete while an organization is kept in sync with an
                        external tool, since the next sync would bring it back.
                      </p>
                      <ul>
                        {plan.blockers.map((b) => (
                          <li key={`${b.org.id}-${b.sync.integrationId}`}>
                            {b.org.name} is kept in sync by {b.sync.integrationKind || "an integration"}
                            {can("integrations:write") && b.sync.externalId ? (
                              <>
                                {" "}
                                <Button className="button small secondary" onPress={() => void disableSync(b)}>
                                  Disable sync of {b.org.name}
                                </Button>
                              </>
                            ) : (
                              ". Ask an administrator to disable it under Integrations."
                            )}
                          </li>
                        ))}
                      </ul>
                    </Alert>
                  )}
                </>
              )}
            </div>
            {error && <Alert tone="error">{error}</Alert>}
            <DialogActions onCancel={close} isPending={pending}>
              <Button
                className="button danger"
                isPending={pending}
                isDisabled={!plan || blocked}
                onPress={() => {
                  setPending(true);
                  setError(undefined);
                  call(api.DELETE("/v1/accounts/{accountId}/organizations/{organizationId}", { params: { path: { accountId, organizationId: org.id ?? "" } } }))
                    .then(
                      (r) => {
                        const n = (r.deletedOrganizationIds?.length ?? 1) - 1;
                        const notice = `${org.name} is deleted${n > 0 ? `, with ${n} sub-organization${n === 1 ? "" : "s"}` : ""}.`;
                        navigate("/organizations", { state: { notice } });
                      },
                      (e: unknown) => {
                        setError(
                          e instanceof ApiError && e.reason === "SYNC_ENABLED"
                            ? `${e.message} Disable its sync under Integrations, then delete it.`
                            : errorMessage(e),
                        );
                        if (e instanceof ApiError && e.reason === "SYNC_ENABLED") void load();
                      },
                    )
                    .finally(() => setPending(false));
                }}
              >
                Delete {plan && plan.subs.length > 0 ? `${plan.subs.length + 1} organizations` : "organization"}
              </Button>
            </DialogActions>
          </>
        )}
      </ModalDialog>
    </DialogTrigger>
  );
}
