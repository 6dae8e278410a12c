import { useState, type ReactNode } from "react";
import { Button, DialogTrigger } from "react-aria-components";
import { errorMessage } from "../api/client";
import { Alert } from "./Alert";
import { DialogActions, ModalDialog } from "./ModalDialog";

type Props = {
  /** The button that opens the dialog. */
  label: string;
  /** The dialog's question. */
  title: string;
  /** What will happen. */
  children: ReactNode;
  /** The confirming button's label ("Sign out everywhere"). */
  confirmLabel: string;
  tone?: "danger" | "primary";
  /** Runs on confirmation; the dialog stays open with the error if it throws. */
  onConfirm: () => Promise<void>;
};

/** ConfirmButton asks before doing something that cannot be undone. */
export function ConfirmButton({ label, title, children, confirmLabel, tone = "danger", onConfirm }: Props) {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string>();
  return (
    <DialogTrigger onOpenChange={() => setError(undefined)}>
      <Button className={`button ${tone === "danger" ? "danger-outline" : "secondary"}`}>{label}</Button>
      <ModalDialog title={title} role="alertdialog" isDismissable={!pending}>
        {(close) => (
          <>
            <div className="dialog-body">{children}</div>
            {error && <Alert tone="error">{error}</Alert>}
            <DialogActions onCancel={close} isPending={pending}>
              <Button
                className={`button ${tone}`}
                isPending={pending}
                onPress={() => {
                  setPending(true);
                  setError(undefined);
                  onConfirm()
                    .then(close, (e: unknown) => setError(errorMessage(e)))
                    .finally(() => setPending(false));
                }}
              >
                {confirmLabel}
              </Button>
            </DialogActions>
          </>
        )}
      </ModalDialog>
    </DialogTrigger>
  );
}
