// The employer's screens: create a task, my tasks, and one task's submissions arriving live
// with the review actions and the task's numbers.
import { useMutation, useQuery } from "@urql/preact";
import { useContext, useState } from "preact/hooks";
import type { UserError } from "./api";
import { MyUserId, upsert, useLiveAfter, usePaged } from "./hooks";
import { Thread } from "./messages";
import {
  APPROVE,
  CREATE_BATCH,
  CREATE_TASK,
  MY_NUMBERS,
  MY_TASKS,
  MY_TASKS_LIVE,
  REJECT,
  REVISE,
  SUBMISSIONS_LIVE,
  TASK_NUMBERS,
  TASK_SUBMISSIONS,
} from "./operations";
import { Field, FormErrors, formValues, label, Link, money, navigate, Status, when } from "./ui";
import { Answers, CATEGORIES } from "./worker";

const TASK_FIELDS = ["title", "instructions", "category", "reward", "slots", "estimatedMinutes", "proofFields", "csv"];
const KINDS = ["TEXT", "URL", "NUMBER", "IMAGE"];

export function NewTask() {
  const [state, create] = useMutation(CREATE_TASK);
  const [batchState, createBatch] = useMutation(CREATE_BATCH);
  const [batch, setBatch] = useState(false);
  const [errors, setErrors] = useState<UserError[]>([]);
  const [fields, setFields] = useState([
    { label: "What you saw", kind: "TEXT" },
    { label: "Screenshot", kind: "IMAGE" },
  ]);

  async function submit(e: Event) {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const v = formValues(form);
    const common = {
      title: v.title,
      instructions: v.instructions,
      category: v.category,
      reward: v.reward,
      estimatedMinutes: Number(v.estimatedMinutes),
      proofFields: fields.map((f) => ({ label: f.label, kind: f.kind })),
    };
    let payload;
    if (batch) {
      // The file's text as it is: the server checks every cell and names its row and column.
      const file = new FormData(form).get("csvFile");
      const csv = file instanceof File && file.size > 0 ? await file.text() : v.csv;
      payload = (await createBatch({ input: { ...common, csv } })).data?.createBatch;
    } else {
      payload = (await create({ input: { ...common, slots: Number(v.slots) } })).data?.createTask;
    }
    setErrors(payload?.userErrors ?? []);
    if (payload?.task) navigate(`/employer/tasks/${payload.task.id}`);
  }

  return (
    <main class="narrow">
      <h1>New task</h1>
      <form onSubmit={submit} noValidate>
        <FormErrors errors={errors} fields={TASK_FIELDS} extra={(state.error ?? batchState.error)?.message} />
        <fieldset>
          <legend>What to publish</legend>
          <label class="choice">
            <input type="radio" name="shape" checked={!batch} onChange={() => setBatch(false)} /> One task with slots
          </label>
          <label class="choice">
            <input type="radio" name="shape" checked={batch} onChange={() => setBatch(true)} /> A batch: one item per
            CSV row
          </label>
        </fieldset>
        <Field label="Title" name="title" required errors={errors} />
        <Field label="Instructions" name="instructions" errors={errors}>
          <textarea id="f-instructions" name="instructions" rows={4} required />
        </Field>
        <Field label="Category" name="category" errors={errors}>
          <select id="f-category" name="category">
            {CATEGORIES.map((c) => (
              <option value={c} key={c}>
                {label(c)}
              </option>
            ))}
          </select>
        </Field>
        <div class="row">
          <Field label="Reward per slot (USD)" name="reward" inputMode="decimal" required errors={errors} />
          {!batch && <Field label="Slots" name="slots" type="number" min={1} value="1" required errors={errors} />}
          <Field label="Minutes it takes" name="estimatedMinutes" type="number" min={1} value="2" required errors={errors} />
        </div>
        {batch && (
          <>
            <Field
              label="Items as CSV"
              name="csv"
              inputId="f-csv"
              hint="A header row, then one row per item; {{column}} in the instructions shows each item's value."
            >
              <textarea id="f-csv" name="csv" rows={5} placeholder={"url,name\nhttps://example.com/1,Ann's Bakery"} />
            </Field>
            <Field label="…or a CSV file" name="csvFile" inputId="f-csvFile">
              <input id="f-csvFile" name="csvFile" type="file" accept=".csv,text/csv" />
            </Field>
            {errors
              .filter((e) => e.field?.includes("csv") && e.field.length > 2)
              .map((e) => (
                <p class="error" role="alert" key={e.field?.join()}>
                  {e.field && e.field.length > 3 ? `Row ${e.field[2]}, column ${e.field[3]}: ` : ""}
                  {e.message}
                </p>
              ))}
          </>
        )}
        <fieldset>
          <legend>Proof fields</legend>
          {fields.map((f, i) => (
            <div class="row" key={i}>
              <div class="field">
                <label for={`proof-label-${i}`}>Field {i + 1} label</label>
                <input
                  id={`proof-label-${i}`}
                  value={f.label}
                  onInput={(e) => setFields(fields.map((x, j) => (j === i ? { ...x, label: e.currentTarget.value } : x)))}
                />
              </div>
              <div class="field">
                <label for={`proof-kind-${i}`}>Field {i + 1} kind</label>
                <select
                  id={`proof-kind-${i}`}
                  value={f.kind}
                  onChange={(e) => setFields(fields.map((x, j) => (j === i ? { ...x, kind: e.currentTarget.value } : x)))}
                >
                  {KINDS.map((k) => (
                    <option value={k} key={k}>
                      {label(k)}
                    </option>
                  ))}
                </select>
              </div>
              <button type="button" class="secondary" onClick={() => setFields(fields.filter((_, j) => j !== i))}>
                Remove field {i + 1}
              </button>
            </div>
          ))}
          <button type="button" class="secondary" onClick={() => setFields([...fields, { label: "", kind: "TEXT" }])}>
            Add a proof field
          </button>
          {errors
            .filter((e) => e.field?.includes("proofFields"))
            .map((e) => (
              <p class="error" role="alert" key={e.message}>
                {e.message}
              </p>
            ))}
        </fieldset>
        <button type="submit" disabled={state.fetching}>
          Publish task
        </button>
      </form>
    </main>
  );
}

interface MyTask {
  id: string;
  title: string;
  status: string;
  slots: number;
  slotsRemaining: number;
  reward: { amount: string };
  createdAt: string;
}

const DAY_MS = 86_400_000;

/** The last 30 days over every task: the campaign's numbers. */
function Numbers() {
  const [range] = useState(() => {
    const to = new Date(Math.ceil(Date.now() / DAY_MS) * DAY_MS);
    return { from: new Date(to.getTime() - 30 * DAY_MS).toISOString(), to: to.toISOString() };
  });
  const [{ data }] = useQuery({ query: MY_NUMBERS, variables: range });
  const t = data?.employerAnalytics.totals;
  if (!t) return null;
  return (
    <section aria-labelledby="numbers-title" class="numbers">
      <h2 id="numbers-title">Last 30 days</h2>
      <p>
        {t.tasks} tasks · claimed {t.funnel.claimed} · submitted {t.funnel.submitted} · approved {t.funnel.approved} ·
        rejected {t.funnel.rejected} · approval rate {t.approvalRate === null ? "–" : `${Math.round(t.approvalRate * 100)}%`}{" "}
        · paid {money(t.money.paid.amount)} · fees {money(t.money.fees.amount)} · refunded{" "}
        {money(t.money.refunded.amount)} · {t.slotsRemaining} open slots
      </p>
    </section>
  );
}

export function MyTasks() {
  const page = usePaged<MyTask>(MY_TASKS, {}, (d) => (d as { myTasks: never }).myTasks);
  // Any submission on any of my tasks, from the moment the page was read (its feedCursor): the
  // task it is on updated in place (slots taken), and the updates counted once per submission.
  const [fresh, setFresh] = useState<Record<string, number>>({});
  useLiveAfter(
    MY_TASKS_LIVE,
    {},
    page,
    (data: { taskSubmissions: { submission: { id: string; task: MyTask } } }) => {
      const { submission } = data.taskSubmissions;
      page.setItems((items) => upsert(items, submission.task, false));
      setFresh((f) => ({ ...f, [submission.id]: 1 }));
    },
  );
  return (
    <main>
      <h1>My tasks</h1>
      <Numbers />
      <p>
        <Link href="/employer/new" class="button">
          New task
        </Link>
      </p>
      <ul class="cards" aria-label="My tasks">
        {page.items.map((t) => (
          <li class="card" key={t.id}>
            <h2>
              <Link href={`/employer/tasks/${t.id}`}>{t.title}</Link>
            </h2>
            <p class="meta">
              <Status value={t.status} /> · {money(t.reward.amount)} · {t.slots - t.slotsRemaining} of {t.slots} taken ·{" "}
              {when(t.createdAt)}
            </p>
          </li>
        ))}
      </ul>
      {Object.keys(fresh).length > 0 && <p aria-live="polite">{Object.keys(fresh).length} submission updates since you opened this page.</p>}
      {page.hasMore && (
        <button type="button" onClick={page.more}>
          Load more
        </button>
      )}
    </main>
  );
}

interface Reviewed {
  id: string;
  status: string;
  submittedAt: string | null;
  claimedAt: string;
  feedback: string | null;
  reusedProof: string[];
  worker: { id: string; displayName: string };
  answers: { label: string; value: string; images: { id: string; url: string; thumbnailUrl: string }[] }[];
  imageMatches: { distance: number; sameTask: boolean; image: { id: string } }[];
}

interface BatchProgress {
  items: number;
  free: number;
  claimed: number;
  submitted: number;
  approved: number;
  rejected: number;
}

/** TASK_SUBMISSIONS: the task, with its first page of submissions. */
interface ReviewedTask {
  task: {
    title: string;
    status: string;
    reward: { amount: string };
    slots: number;
    slotsRemaining: number;
    batch: { columns: string[]; progress: BatchProgress | null } | null;
    submissions: {
      edges: { cursor: string; node: Reviewed }[];
      pageInfo: { hasNextPage: boolean; endCursor: string | null };
      feedCursor: string;
    };
  } | null;
}

export function TaskReview(props: { id: string }) {
  const page = usePaged<Reviewed, ReviewedTask>(TASK_SUBMISSIONS, { id: props.id }, (d) => d.task?.submissions);
  const [numbers, refetchNumbers] = useQuery({ query: TASK_NUMBERS, variables: { id: props.id } });
  const [announcement, setAnnouncement] = useState("");
  // Submissions arrive live from the moment the page was read (its feedCursor), newest first;
  // one the page already shows (or a replayed event) changes its card, never adds a second.
  useLiveAfter(
    SUBMISSIONS_LIVE,
    { taskId: props.id },
    page,
    (event: { taskSubmissions: { kind: string; submission: Reviewed } }) => {
      const { kind, submission } = event.taskSubmissions;
      page.setItems((items) => upsert(items, submission));
      setAnnouncement(`${submission.worker.displayName}: ${label(kind)}`);
      refetchNumbers({ requestPolicy: "network-only" });
    },
  );
  const task = page.data?.task;
  if (!task) return <main><p>Loading…</p></main>;
  const submissions = page.items;
  const n = numbers.data?.taskAnalytics;

  return (
    <main>
      <h1>{task.title}</h1>
      <p class="meta">
        <Status value={task.status} /> · {money(task.reward.amount)} per slot · {task.slotsRemaining} of {task.slots}{" "}
        slots open
      </p>
      {task.batch?.progress && (
        <p class="numbers">
          Batch of {task.batch.progress.items} items ({task.batch.columns.join(", ")}): {task.batch.progress.free} free ·{" "}
          {task.batch.progress.claimed} claimed · {task.batch.progress.submitted} submitted · {task.batch.progress.approved}{" "}
          approved · {task.batch.progress.rejected} rejected
        </p>
      )}
      {n && (
        <section aria-label="Campaign numbers" class="numbers">
          <p>
            Claimed {n.funnel.claimed} · submitted {n.funnel.submitted} · approved {n.funnel.approved} · rejected{" "}
            {n.funnel.rejected} · approval rate {n.approvalRate === null ? "–" : `${Math.round(n.approvalRate * 100)}%`} ·
            paid {money(n.money.paid.amount)} · fees {money(n.money.fees.amount)}
          </p>
        </section>
      )}
      <p class="visually-hidden" aria-live="polite">
        {announcement}
      </p>
      <h2>Submissions</h2>
      {submissions.length === 0 && <p>No submissions yet. They appear here as workers send them.</p>}
      <ul class="cards" aria-label="Submissions">
        {submissions.map((s) => (
          <ReviewCard key={s.id} submission={s} taskId={props.id} />
        ))}
      </ul>
      {page.hasMore && (
        <button type="button" onClick={page.more}>
          Load more
        </button>
      )}
    </main>
  );
}

const REASONS = ["INCOMPLETE", "WRONG_PROOF", "INSTRUCTIONS_NOT_FOLLOWED", "FRAUD", "OTHER"];

function ReviewCard(props: { submission: Reviewed; taskId: string }) {
  const s = props.submission;
  const me = useContext(MyUserId);
  const [talking, setTalking] = useState(false);
  const [, approve] = useMutation(APPROVE);
  const [, reject] = useMutation(REJECT);
  const [, revise] = useMutation(REVISE);
  const [errors, setErrors] = useState<UserError[]>([]);
  const [status, setStatus] = useState<string | null>(null);
  const [rejecting, setRejecting] = useState(false);
  const current = status ?? s.status;

  async function act(run: () => Promise<{ data?: Record<string, { submission?: { status: string }; userErrors: UserError[] }> }>) {
    const result = await run();
    const payload = Object.values(result.data ?? {})[0];
    setErrors(payload?.userErrors ?? []);
    if (payload?.submission) setStatus(payload.submission.status);
  }

  return (
    <li class="card" aria-label={`Submission by ${s.worker.displayName}`}>
      <h3>
        {s.worker.displayName} · <Status value={current} />
      </h3>
      <p class="meta">Claimed {when(s.claimedAt)}{s.submittedAt ? ` · submitted ${when(s.submittedAt)}` : ""}</p>
      {s.reusedProof.length > 0 && (
        <p class="warning" role="note">
          Reused proof: another account already sent the same answer for {s.reusedProof.join(", ")}.
        </p>
      )}
      {s.imageMatches.length > 0 && (
        <p class="warning" role="note">
          {s.imageMatches.length} screenshot(s) closely match one another account sent
          {s.imageMatches.some((m) => m.sameTask) ? " on this task" : ""}.
        </p>
      )}
      <Answers answers={s.answers} />
      <FormErrors errors={errors} fields={["comment"]} />
      {current === "SUBMITTED" && !rejecting && (
        <div class="actions">
          <button type="button" onClick={() => act(() => approve({ input: { submissionId: s.id, feedback: "Thanks!" } }))}>
            Approve
          </button>
          <button type="button" class="secondary" onClick={() => setRejecting(true)}>
            Reject or ask for a revision…
          </button>
        </div>
      )}
      {current === "SUBMITTED" && rejecting && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            const v = formValues(e.currentTarget as HTMLFormElement);
            const action = (e.submitter as HTMLButtonElement | null)?.value;
            void act(() =>
              action === "revise"
                ? revise({ input: { submissionId: s.id, comment: v.comment } })
                : reject({ input: { submissionId: s.id, reason: v.reason, comment: v.comment } }),
            );
          }}
        >
          <Field label="Reason" name="reason" inputId={`f-reason-${s.id}`}>
            <select id={`f-reason-${s.id}`} name="reason">
              {REASONS.map((r) => (
                <option key={r} value={r}>
                  {label(r)}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Comment for the worker" name="comment" errors={errors} inputId={`f-comment-${s.id}`}>
            <textarea id={`f-comment-${s.id}`} name="comment" rows={2} required />
          </Field>
          <div class="actions">
            <button type="submit" value="reject">
              Reject
            </button>
            <button type="submit" value="revise" class="secondary">
              Ask for a revision
            </button>
            <button type="button" class="secondary" onClick={() => setRejecting(false)}>
              Cancel
            </button>
          </div>
        </form>
      )}
      {talking ? (
        <Thread taskId={props.taskId} workerId={s.worker.id} me={me} with={s.worker.displayName} />
      ) : (
        <button type="button" class="secondary" onClick={() => setTalking(true)}>
          Messages with {s.worker.displayName}
        </button>
      )}
    </li>
  );
}
