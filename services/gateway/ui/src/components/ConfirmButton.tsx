import { useState, type ReactNode } from "react";
import { Button, Dialog, DialogTrigger, Heading, Modal, ModalOverlay } from "react-aria-components";
import { errorMessage } from "../api/client";
import { Alert } from "./Alert";

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
      <ModalOverlay className="modal-overlay" isDismissable={!pending}>
        <Modal className="modal">
          <Dialog role="alertdialog" className="dialog">
            {({ close }) => (
              <>
                <Heading slot="title">{title}</Heading>
                <div className="dialog-body">{children}</div>
                {error && <Alert tone="error">{error}</Alert>}
                <div className="dialog-actions">
                  <Button className="button secondary" onPress={close} isDisabled={pending}>
                    Cancel
                  </Button>
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
                </div>
              </>
            )}
          </Dialog>
        </Modal>
      </ModalOverlay>
    </DialogTrigger>
  );
}
