import type { ReactNode } from "react";
import { Button, Dialog, Heading, Modal, ModalOverlay } from "react-aria-components";

type Props = {
  /** The dialog's heading, which also names it for assistive technology. */
  title: ReactNode;
  /** Whether Escape or a click outside closes it; false while its action runs. */
  isDismissable: boolean;
  /** "alertdialog" for a question before something that cannot be undone. */
  role?: "dialog" | "alertdialog";
  /** Added to the modal's class (a wider dialog) and to the dialog's. */
  modalClassName?: string;
  dialogClassName?: string;
  /** Only for a dialog opened without a DialogTrigger: its open state is then the caller's. */
  isOpen?: boolean;
  onOpenChange?: (open: boolean) => void;
  /** What follows the heading; a function gets close, for a Cancel button. */
  children: ReactNode | ((close: () => void) => ReactNode);
};

/**
 * ModalDialog is the frame every dialog shares: the dimmed overlay, the modal and the dialog with
 * its heading. Inside a DialogTrigger it opens and closes with the trigger.
 */
export function ModalDialog({ title, isDismissable, role, modalClassName, dialogClassName, isOpen, onOpenChange, children }: Props) {
  return (
    <ModalOverlay className="modal-overlay" isDismissable={isDismissable} isOpen={isOpen} onOpenChange={onOpenChange}>
      <Modal className={modalClassName ? `modal ${modalClassName}` : "modal"}>
        <Dialog role={role} className={dialogClassName ? `dialog ${dialogClassName}` : "dialog"}>
          {({ close }) => (
            <>
              <Heading slot="title">{title}</Heading>
              {typeof children === "function" ? children(close) : children}
            </>
          )}
        </Dialog>
      </Modal>
    </ModalOverlay>
  );
}

/**
 * DialogActions is a dialog's row of buttons: Cancel, then the dialog's own. Cancel is off while
 * the action runs, as the overlay then stays open.
 */
export function DialogActions({ onCancel, isPending, children }: { onCancel: () => void; isPending: boolean; children: ReactNode }) {
  return (
    <div className="dialog-actions">
      <Button className="button secondary" onPress={onCancel} isDisabled={isPending}>
        Cancel
      </Button>
      {children}
    </div>
  );
}
