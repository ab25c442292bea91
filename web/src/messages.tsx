// One thread per task and worker: questions before claiming, talk about the submission after.
// New messages arrive on the tab's myEvents stream (`message.received`).
import { useMutation } from "@urql/preact";
import { useState } from "preact/hooks";
import type { UserError } from "./api";
import { usePaged, useMyEvents } from "./hooks";
import { MESSAGES, SEND_MESSAGE } from "./operations";
import { Field, FormErrors, when } from "./ui";

interface Message {
  id: string;
  body: string;
  senderId: string;
  createdAt: string;
}

export function Thread(props: { taskId: string; workerId?: string; me: string; with: string }) {
  const variables = { taskId: props.taskId, workerId: props.workerId ?? null };
  const page = usePaged<Message>(MESSAGES, variables, (d) => (d as { messages: never }).messages);
  const [state, send] = useMutation(SEND_MESSAGE);
  const [errors, setErrors] = useState<UserError[]>([]);
  useMyEvents((event) => {
    if (event.type === "message.received" && event.task?.id === props.taskId) page.refetch();
  });
  const id = `thread-${props.taskId}-${props.workerId ?? "me"}`;
  return (
    <section aria-labelledby={id} class="messages">
      <h3 id={id}>Messages with {props.with}</h3>
      <ul class="thread" aria-live="polite">
        {page.items.map((m) => (
          <li key={m.id} class={m.senderId === props.me ? "mine" : ""}>
            <span class="visually-hidden">{m.senderId === props.me ? "You" : props.with}: </span>
            {m.body} <small class="hint">{when(m.createdAt)}</small>
          </li>
        ))}
      </ul>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          const form = e.currentTarget as HTMLFormElement;
          const body = String(new FormData(form).get("body") ?? "");
          const result = await send({ input: { ...variables, body } });
          const payload = result.data?.sendMessage;
          setErrors(payload?.userErrors ?? []);
          if (payload?.message) {
            page.setItems((items) => [...items, payload.message]);
            form.reset();
          }
        }}
      >
        <FormErrors errors={errors} fields={["body"]} extra={state.error?.message} />
        <Field label={`Message to ${props.with}`} name="body" errors={errors} inputId={`f-body-${id}`}>
          <textarea id={`f-body-${id}`} name="body" rows={2} required />
        </Field>
        <button type="submit" disabled={state.fetching}>
          Send message
        </button>
      </form>
    </section>
  );
}
