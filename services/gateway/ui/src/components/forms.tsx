import { useCallback, useState, type FormEvent, type ReactNode } from "react";
import {
  Button,
  Checkbox,
  FieldError,
  Input,
  Label,
  Text,
  TextField,
  type CheckboxProps,
  type TextFieldProps,
} from "react-aria-components";
import { ApiError, errorMessage } from "../api/client";

type TextInputProps = Omit<TextFieldProps, "children" | "name"> & {
  label: string;
  /** The field's name as the API spells it ("newPassword"): server errors for it show under it. */
  name: string;
  description?: ReactNode;
  placeholder?: string;
};

/** TextInput is a labelled text field showing its own errors, the server's included. */
export function TextInput({ label, description, placeholder, className, ...props }: TextInputProps) {
  return (
    <TextField className={`field ${className ?? ""}`} {...props}>
      <Label>{label}</Label>
      <Input placeholder={placeholder} />
      <FieldHelp description={description} />
    </TextField>
  );
}

/**
 * FieldHelp is what stands under a react-aria field's control: its description, if any, and its
 * error once it has one (the server's included), both linked to the control.
 */
export function FieldHelp({ description }: { description?: ReactNode }) {
  return (
    <>
      {description && (
        <Text slot="description" className="field-description">
          {description}
        </Text>
      )}
      <FieldError className="field-error" />
    </>
  );
}

/** CheckboxField is a labelled checkbox. */
export function CheckboxField({ children, className, ...props }: CheckboxProps & { children: ReactNode }) {
  return (
    <Checkbox className={`checkbox ${typeof className === "string" ? className : ""}`} {...props}>
      <span className="checkbox-box" aria-hidden="true">
        <svg viewBox="0 0 18 18" focusable="false">
          <polyline points="3 9.5 7.5 13.5 15 4.5" />
        </svg>
      </span>
      <span>{children}</span>
    </Checkbox>
  );
}

/** SubmitButton submits its form, showing that it is busy while the request runs. */
export function SubmitButton({ children, isPending, tone = "primary" }: { children: ReactNode; isPending: boolean; tone?: "primary" | "danger" | "secondary" }) {
  return (
    <Button type="submit" className={`button ${tone}`} isPending={isPending}>
      {children}
    </Button>
  );
}

/** fieldError is an error of one field found before asking the server ("the passwords differ"). */
export function fieldError(field: string, message: string): ApiError {
  return new ApiError(message, { status: 400, fieldErrors: { [field]: message } });
}

export type ApiForm = {
  /** Errors by field name, for <Form validationErrors>. */
  fieldErrors: Record<string, string>;
  /** The error about the form as a whole, if any. */
  error: string | undefined;
  /** Whether the submission runs. */
  pending: boolean;
  /**
   * onSubmit makes the form's submit handler: it reads the named fields, runs action, and on an
   * ApiError puts each field's error under that field (the API names fields as the form does)
   * and any other error above the form.
   */
  onSubmit: (action: (values: Record<string, string>) => Promise<void>) => (e: FormEvent<HTMLFormElement>) => void;
  /** reset clears the errors. */
  reset: () => void;
};

/**
 * useApiForm runs a form against the API:
 *
 *   const form = useApiForm();
 *   <Form validationErrors={form.fieldErrors} onSubmit={form.onSubmit(async (v) => { await call(...) })}>
 *     {form.error && <Alert tone="error">{form.error}</Alert>}
 *     <TextInput name="newPassword" label="New password" type="password" />
 */
// Forms already listening for input (one listener per form element, for its lifetime).
const listening = new WeakSet<HTMLFormElement>();

/**
 * forgetOnInput drops a field's server error as soon as the person types in that field. Left to
 * react-aria, the error would go only when the field is committed, that is on blur: a person who
 * corrects the value and then clicks the submit button blurs the field on mouse down, the error
 * text under it disappears, everything below moves up, and the mouse comes up beside the button
 * that was under it, so the click is lost and nothing is sent.
 */
function forgetOnInput(form: HTMLFormElement, set: (f: (cur: Record<string, string>) => Record<string, string>) => void) {
  if (listening.has(form)) return;
  listening.add(form);
  form.addEventListener("input", (e) => {
    const name = (e.target as HTMLInputElement | null)?.name;
    if (!name) return;
    // After React has handled this input: an update scheduled from here, ahead of the field's own
    // onChange, would re-render the controlled field with its old value and undo the keystroke.
    setTimeout(() =>
      set((cur) => {
        if (!(name in cur)) return cur;
        const next = { ...cur };
        delete next[name];
        return next;
      }),
    );
  });
}

export function useApiForm(): ApiForm {
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);

  const reset = useCallback(() => {
    setFieldErrors({});
    setError(undefined);
  }, []);

  const onSubmit = useCallback(
    (action: (values: Record<string, string>) => Promise<void>) => (e: FormEvent<HTMLFormElement>) => {
      e.preventDefault();
      const form = e.currentTarget;
      const values: Record<string, string> = {};
      for (const [k, v] of new FormData(form)) if (typeof v === "string") values[k] = v;
      setPending(true);
      setError(undefined);
      setFieldErrors({});
      action(values)
        .catch((err: unknown) => {
          if (!(err instanceof ApiError)) {
            console.error(err);
            setError(errorMessage(err));
            return;
          }
          const placed: Record<string, string> = {};
          const elsewhere: string[] = [];
          for (const [field, msg] of Object.entries(err.fieldErrors)) {
            if (form.elements.namedItem(field)) placed[field] = msg;
            else elsewhere.push(`${field}: ${msg}`);
          }
          setFieldErrors(placed);
          forgetOnInput(form, setFieldErrors);
          const nothingPlaced = Object.keys(placed).length === 0;
          if (nothingPlaced || elsewhere.length > 0) {
            setError(nothingPlaced ? err.message : elsewhere.join(" "));
          }
          if (!nothingPlaced) {
            // The first field in error takes focus, so its message (linked to it) is read out.
            requestAnimationFrame(() => form.querySelector<HTMLElement>("[aria-invalid='true']")?.focus());
          }
        })
        .finally(() => setPending(false));
    },
    [],
  );

  return { fieldErrors, error, pending, onSubmit, reset };
}
