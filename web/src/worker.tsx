// The worker's screens: the live feed, a task, the claim with its countdown and the proof form,
// and their submissions with live status.
import { useMutation, useQuery } from "@urql/preact";
import { useContext, useMemo, useState } from "preact/hooks";
import { putBytes, type UserError } from "./api";
import { MyUserId, upsert, useLiveAfter, usePaged, useMyEvents } from "./hooks";
import { Thread } from "./messages";
import {
  CLAIM,
  CREATE_UPLOAD,
  MY_SUBMISSIONS,
  MY_SUBMISSIONS_LIVE,
  RELEASE,
  SUBMISSION_DETAIL,
  SUBMIT,
  TASK_DETAIL,
  TASK_FEED,
  TASKS,
} from "./operations";
import { Countdown, Field, FormErrors, ImageButton, label, Link, money, navigate, Status, when } from "./ui";

export const CATEGORIES = [
  "SIGN_UP",
  "WATCH_VIDEO",
  "APP_TESTING",
  "REVIEW",
  "SOCIAL",
  "DATA_ENTRY",
  "RESEARCH",
  "OTHER",
];

interface Task {
  id: string;
  title: string;
  instructions: string;
  category: string;
  status: string;
  slots: number;
  slotsRemaining: number;
  estimatedMinutes: number;
  claimTimeoutSeconds: number;
  reward: { amount: string; currency: string };
  proofFields: { label: string; kind: string; required: boolean }[];
  employer: { id: string; displayName: string };
}

export function Feed() {
  const [category, setCategory] = useState("");
  const [minReward, setMinReward] = useState("");
  const filter = useMemo(
    () => ({
      categories: category ? [category] : null,
      minReward: /^\d+(\.\d{1,2})?$/.test(minReward) ? minReward : null,
    }),
    [category, minReward],
  );
  const page = usePaged<Task>(TASKS, { filter }, (d) => (d as { tasks: never }).tasks);
  const [announcement, setAnnouncement] = useState("");
  // New tasks arrive without a reload; the server applies the same filter to the live feed,
  // which starts where the page's query left off (its feedCursor), so nothing falls between.
  useLiveAfter(TASK_FEED, { filter }, page, (data: { taskFeed: { kind: string; task: Task } }) => {
    const { kind, task } = data.taskFeed;
    page.setItems((items) => {
      if (kind === "CLOSED" || task.slotsRemaining === 0) return items.filter((t) => t.id !== task.id);
      // An update, or a task the page already shows (posted while it was read): in place.
      return upsert(items, task, kind === "POSTED");
    });
    if (kind === "POSTED") setAnnouncement(`New task: ${task.title}`);
  });

  return (
    <main>
      <h1>Tasks for you</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter tasks">
        <Field label="Category" name="category">
          <select id="f-category" value={category} onChange={(e) => setCategory(e.currentTarget.value)}>
            <option value="">All categories</option>
            {CATEGORIES.map((c) => (
              <option value={c} key={c}>
                {label(c)}
              </option>
            ))}
          </select>
        </Field>
        <Field
          label="Minimum reward"
          name="minReward"
          inputMode="decimal"
          placeholder="0.00"
          value={minReward}
          onInput={(e) => setMinReward(e.currentTarget.value)}
        />
      </form>
      <p class="visually-hidden" aria-live="polite">
        {announcement}
      </p>
      {page.error && <p class="error">{page.error}</p>}
      <ul class="cards" aria-label="Open tasks">
        {page.items.map((task) => (
          <li key={task.id} class="card">
            <h2>
              <Link href={`/tasks/${task.id}`}>{task.title}</Link>
            </h2>
            <p class="meta">
              <strong>{money(task.reward.amount, task.reward.currency)}</strong> · {label(task.category)} ·{" "}
              {task.estimatedMinutes} min · {task.slotsRemaining} of {task.slots} left · by{" "}
              {task.employer.displayName}
            </p>
          </li>
        ))}
      </ul>
      {!page.fetching && page.items.length === 0 && <p>No open tasks match. New ones appear here live.</p>}
      {page.hasMore && (
        <button type="button" onClick={page.more}>
          Load more
        </button>
      )}
    </main>
  );
}

export function TaskDetail(props: { id: string }) {
  const [{ data, fetching }] = useQuery<{ task: Task | null }>({ query: TASK_DETAIL, variables: { id: props.id } });
  const [claim, runClaim] = useMutation(CLAIM);
  const [errors, setErrors] = useState<UserError[]>([]);
  const task = data?.task;
  if (!task) return <main>{fetching ? <p>Loading…</p> : <p>This task is not available.</p>}</main>;

  async function take() {
    const result = await runClaim({ input: { taskId: props.id } });
    const payload = result.data?.claimTask;
    setErrors(payload?.userErrors ?? []);
    if (payload?.submission) navigate(`/work/${payload.submission.id}`);
  }

  return (
    <main>
      <h1>{task.title}</h1>
      <p class="meta">
        <strong>{money(task.reward.amount, task.reward.currency)}</strong> · {label(task.category)} ·{" "}
        {task.estimatedMinutes} min · {task.slotsRemaining} of {task.slots} slots left · by{" "}
        {task.employer.displayName}
      </p>
      <h2>Instructions</h2>
      <p class="pre">{task.instructions}</p>
      <h2>Proof asked for</h2>
      <ul>
        {task.proofFields.map((f) => (
          <li key={f.label}>
            {f.label} ({label(f.kind)}
            {f.required ? ", required" : ""})
          </li>
        ))}
      </ul>
      <p>You will have {Math.round(task.claimTimeoutSeconds / 60)} minutes once you claim it.</p>
      <FormErrors errors={errors} fields={[]} extra={claim.error?.message} />
      <button type="button" onClick={take} disabled={claim.fetching || task.slotsRemaining === 0}>
        Claim this task
      </button>
    </main>
  );
}

interface Submission {
  id: string;
  status: string;
  claimExpiresAt: string | null;
  reviewDeadline: string | null;
  feedback: string | null;
  rejectionReason: string | null;
  rejectionComment: string | null;
  revisionComment: string | null;
  instructions: string;
  answers: { label: string; value: string; images: { id: string; url: string; thumbnailUrl: string }[] }[];
  task: {
    id: string;
    title: string;
    reward: { amount: string };
    proofFields: Task["proofFields"];
    employer: { id: string; displayName: string };
  };
}

/** A claimed task: the countdown, the proof form (text and screenshots), then its status. */
export function Work(props: { id: string }) {
  const [{ data }, refetch] = useQuery<{ node: Submission | null }>({
    query: SUBMISSION_DETAIL,
    variables: { id: props.id },
  });
  const [, createUpload] = useMutation(CREATE_UPLOAD);
  const [submitting, submit] = useMutation(SUBMIT);
  const [, release] = useMutation(RELEASE);
  const [errors, setErrors] = useState<UserError[]>([]);
  const [problem, setProblem] = useState("");
  const [busy, setBusy] = useState(false);
  const me = useContext(MyUserId);
  useMyEvents((event) => {
    if (event.submission?.id === props.id) refetch({ requestPolicy: "network-only" });
  });
  const submission = data?.node;
  if (!submission) return <main><p>Loading…</p></main>;
  const editable = submission.status === "CLAIMED" || submission.status === "REVISION_REQUESTED";

  async function upload(file: File): Promise<string> {
    const slot = await createUpload({
      input: { purpose: "PROOF_IMAGE", contentType: file.type, size: file.size },
    });
    const payload = slot.data?.createUpload;
    if (!payload?.uploadUrl) throw new Error(payload?.userErrors?.[0]?.message ?? "No upload slot");
    await putBytes(payload.uploadUrl, file);
    return payload.upload.id;
  }

  async function send(e: Event) {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    setBusy(true);
    setProblem("");
    try {
      const answers = [];
      for (const [index, field] of submission!.task.proofFields.entries()) {
        if (field.kind === "IMAGE") {
          const files = form.getAll(`answer-${index}`).filter((f): f is File => f instanceof File && f.size > 0);
          answers.push({ label: field.label, uploadIds: await Promise.all(files.map(upload)) });
        } else {
          answers.push({ label: field.label, value: String(form.get(`answer-${index}`) ?? "") });
        }
      }
      const result = await submit({ input: { submissionId: props.id, answers } });
      setErrors(result.data?.submitProof?.userErrors ?? []);
      if (result.error) setProblem(result.error.message);
    } catch (err) {
      setProblem((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main>
      <h1>{submission.task.title}</h1>
      <p>
        Status: <Status value={submission.status} />
        {editable && submission.claimExpiresAt && (
          <>
            {" "}
            · time left: <Countdown until={submission.claimExpiresAt} />
          </>
        )}
      </p>
      {submission.revisionComment && <p class="notice">Revision asked: {submission.revisionComment}</p>}
      {submission.feedback && <p class="notice">Feedback: {submission.feedback}</p>}
      {submission.rejectionReason && (
        <p class="notice">
          Rejected ({label(submission.rejectionReason)}): {submission.rejectionComment}
        </p>
      )}
      <h2>Instructions</h2>
      <p class="pre">{submission.instructions}</p>
      {editable ? (
        <form onSubmit={send} noValidate>
          <FormErrors errors={errors} fields={["answers"]} extra={problem || submitting.error?.message} />
          {submission.task.proofFields.map((field, index) => {
            const fieldErrors = errors.filter((e) => e.field?.includes(String(index)) && e.field.includes("answers"));
            const name = `answer-${index}`;
            return field.kind === "IMAGE" ? (
              <Field label={field.label} name={name} key={name} hint="PNG, JPEG or WebP screenshots.">
                <input id={`f-${name}`} name={name} type="file" accept="image/png,image/jpeg,image/webp" multiple required={field.required} />
                {fieldErrors.map((e) => <p class="error" role="alert" key={e.message}>{e.message}</p>)}
              </Field>
            ) : (
              <Field label={field.label} name={name} key={name}>
                <input id={`f-${name}`} name={name} type={field.kind === "URL" ? "url" : field.kind === "NUMBER" ? "number" : "text"} required={field.required} />
                {fieldErrors.map((e) => <p class="error" role="alert" key={e.message}>{e.message}</p>)}
              </Field>
            );
          })}
          <div class="actions">
            <button type="submit" disabled={busy}>
              Submit proof
            </button>
            <button
              type="button"
              class="secondary"
              onClick={async () => {
                await release({ input: { submissionId: props.id } });
                navigate("/");
              }}
            >
              Release claim
            </button>
          </div>
        </form>
      ) : (
        <Answers answers={submission.answers} />
      )}
      <Thread taskId={submission.task.id} me={me} with={submission.task.employer.displayName} />
    </main>
  );
}

export function Answers(props: { answers: Submission["answers"] }) {
  return (
    <dl class="answers">
      {props.answers.map((a) => (
        <div key={a.label}>
          <dt>{a.label}</dt>
          <dd>
            {a.value}
            {a.images.map((image, i) => (
              <ImageButton key={image.id} url={image.url} thumbnailUrl={image.thumbnailUrl} name={`screenshot ${i + 1}`} />
            ))}
          </dd>
        </div>
      ))}
    </dl>
  );
}

interface SubmissionRow {
  id: string;
  status: string;
  claimExpiresAt: string | null;
  submittedAt: string | null;
  feedback: string | null;
  task: { id: string; title: string; reward: { amount: string } };
}

export function MySubmissions() {
  const page = usePaged<SubmissionRow>(MY_SUBMISSIONS, {}, (d) => (d as { mySubmissions: never }).mySubmissions);
  // Live status from the moment the page was read (its feedCursor): each event's submission as
  // it is now, merged by id (a new one first).
  useLiveAfter(MY_SUBMISSIONS_LIVE, {}, page, (data: { myEvents: { submission: SubmissionRow | null } }) => {
    const changed = data.myEvents.submission;
    if (changed) page.setItems((items) => upsert(items, changed));
  });
  return (
    <main>
      <h1>My submissions</h1>
      <table>
        <caption class="visually-hidden">My submissions and their status</caption>
        <thead>
          <tr>
            <th scope="col">Task</th>
            <th scope="col">Reward</th>
            <th scope="col">Status</th>
            <th scope="col">Submitted</th>
          </tr>
        </thead>
        <tbody>
          {page.items.map((s) => (
            <tr key={s.id}>
              <td>
                <Link href={`/work/${s.id}`}>{s.task.title}</Link>
              </td>
              <td>{money(s.task.reward.amount)}</td>
              <td aria-live="polite">
                <Status value={s.status} />
              </td>
              <td>{when(s.submittedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {page.hasMore && (
        <button type="button" onClick={page.more}>
          Load more
        </button>
      )}
    </main>
  );
}
