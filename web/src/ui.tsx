// Small shared pieces: the router, labelled fields with their userErrors, money, countdowns.
import type { ComponentChildren, JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { errorsFor, otherErrors, type UserError } from "./api";

// --- routing: real paths (the server answers index.html for them), history API -------------
const listeners = new Set<() => void>();
window.addEventListener("popstate", () => listeners.forEach((l) => l()));

export function navigate(path: string): void {
  history.pushState(null, "", path);
  listeners.forEach((l) => l());
  window.scrollTo(0, 0);
}

export function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const update = () => setPath(location.pathname);
    listeners.add(update);
    return () => void listeners.delete(update);
  }, []);
  return path;
}

export function Link(props: { href: string; children: ComponentChildren; class?: string }) {
  const current = usePath() === props.href;
  return (
    <a
      href={props.href}
      class={props.class}
      aria-current={current ? "page" : undefined}
      onClick={(e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(props.href);
      }}
    >
      {props.children}
    </a>
  );
}

// --- forms ----------------------------------------------------------------------------------
type InputProps = JSX.IntrinsicElements["input"] & { name: string };

/** A labelled input; the userErrors naming it are shown under it and announced. */
export function Field(props: {
  label: string;
  name: string;
  errors?: UserError[];
  hint?: string;
  /** The control's id when it is a child (several forms of one kind on a page). */
  inputId?: string;
  children?: ComponentChildren;
} & Omit<InputProps, "label">) {
  const { label, name, errors, hint, inputId, children, ...rest } = props;
  const messages = errorsFor(errors, name);
  const id = inputId ?? `f-${name}`;
  const describedBy = [hint ? `${id}-hint` : "", messages.length ? `${id}-error` : ""]
    .filter(Boolean)
    .join(" ");
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {children ?? (
        <input
          id={id}
          name={name}
          aria-invalid={messages.length > 0}
          aria-describedby={describedBy || undefined}
          {...rest}
        />
      )}
      {hint && (
        <small id={`${id}-hint`} class="hint">
          {hint}
        </small>
      )}
      {messages.length > 0 && (
        <p id={`${id}-error`} class="error" role="alert">
          {messages.join(" ")}
        </p>
      )}
    </div>
  );
}

/** Errors of the payload that no field of the form shows. */
export function FormErrors(props: { errors?: UserError[]; fields: string[]; extra?: string }) {
  const messages = [...otherErrors(props.errors, props.fields), ...(props.extra ? [props.extra] : [])];
  if (!messages.length) return null;
  return (
    <div class="error" role="alert">
      {messages.map((m) => (
        <p key={m}>{m}</p>
      ))}
    </div>
  );
}

export function formValues(form: HTMLFormElement): Record<string, string> {
  return Object.fromEntries(
    [...new FormData(form).entries()].map(([k, v]) => [k, typeof v === "string" ? v : ""]),
  );
}

// --- display --------------------------------------------------------------------------------
export function money(amount: string | undefined, currency = "USD"): string {
  if (amount === undefined) return "";
  return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(Number(amount));
}

export function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : "";
}

export function label(value: string): string {
  return value.charAt(0) + value.slice(1).toLowerCase().replaceAll("_", " ");
}

function remaining(until: string): number {
  return Math.max(0, Math.floor((new Date(until).getTime() - Date.now()) / 1000));
}

/** Time left until `until`, ticking each second (a display only: the server decides). */
export function Countdown(props: { until: string }) {
  const [left, setLeft] = useState(remaining(props.until));
  useEffect(() => {
    setLeft(remaining(props.until));
    const timer = setInterval(() => setLeft(remaining(props.until)), 1000);
    return () => clearInterval(timer);
  }, [props.until]);
  const h = Math.floor(left / 3600);
  const m = Math.floor((left % 3600) / 60);
  const s = left % 60;
  const text = `${h ? `${h}:` : ""}${String(m).padStart(h ? 2 : 1, "0")}:${String(s).padStart(2, "0")}`;
  return (
    <time class="countdown" role="timer" dateTime={`PT${left}S`}>
      {left > 0 ? text : "expired"}
    </time>
  );
}

export function Status(props: { value: string }) {
  return <span class={`status status-${props.value.toLowerCase()}`}>{label(props.value)}</span>;
}

/** A button that opens a full-size image in a modal dialog (Escape or Close shut it, and
 * focus returns to the button). */
export function ImageButton(props: { url: string; thumbnailUrl: string; name: string }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [open, setOpen] = useState(false);
  useEffect(() => {
    if (open) dialog.current?.showModal();
  }, [open]);
  return (
    <>
      <button type="button" class="thumb" onClick={() => setOpen(true)}>
        <img src={props.thumbnailUrl} alt="" />
        <span>Open {props.name}</span>
      </button>
      {open && (
        <dialog ref={dialog} aria-label={props.name} class="viewer" onClose={() => setOpen(false)}>
          <img src={props.url} alt={props.name} />
          <button type="button" autoFocus onClick={() => dialog.current?.close()}>
            Close
          </button>
        </dialog>
      )}
    </>
  );
}
