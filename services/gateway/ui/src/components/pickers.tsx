import { Button, Input, SelectValue } from "react-aria-components";

// The parts of react-aria's Select and ComboBox that every picker draws the same way; the
// styles (.select-button, .combo-input, .combo-toggle, .picker-popover) are in styles.css.

/** SelectButton is a Select's button: the chosen value, and a caret saying it opens a list. */
export function SelectButton({ className }: { className?: string }) {
  return (
    <Button className={className ? `select-button ${className}` : "select-button"}>
      <SelectValue />
      <span aria-hidden="true">▾</span>
    </Button>
  );
}

/**
 * ComboInput is a ComboBox's text box with the button beside it that lists the choices without
 * typing. toggleLabel names that button, whose only content is the caret.
 */
export function ComboInput({ toggleLabel, placeholder }: { toggleLabel: string; placeholder?: string }) {
  return (
    <div className="combo-input">
      <Input placeholder={placeholder} />
      <Button className="combo-toggle" aria-label={toggleLabel}>
        <span aria-hidden="true">▾</span>
      </Button>
    </div>
  );
}
