// Every operation the app sends. Queries go as persisted-query hashes; subscriptions declare
// `$after` so the client can resume them from their last cursor (see api.ts).
import { gql } from "@urql/core";

const ERRORS = "userErrors { field message code }";
const TASK = `id title instructions category status slotsRemaining slots estimatedMinutes
  claimTimeoutSeconds reward { amount currency } proofFields { label kind required }
  employer { id displayName }`;
const IMAGE = "id url thumbnailUrl width height";
const SUBMISSION = `id status claimedAt claimExpiresAt submittedAt reviewDeadline feedback
  rejectionReason rejectionComment revisionComment instructions
  answers { label value images { ${IMAGE} } }
  task { id title reward { amount } proofFields { label kind required } employer { id displayName } }`;

export const ME = gql`query Me { me { id email emailConfirmed pendingEmail twoFactorEnabled displayName country isAdmin
  balance { amount currency } user { id avatarUrl bio } } }`;

export const SIGN_UP = gql`mutation SignUp($input: SignUpInput!) { signUp(input: $input) {
  token viewer { id } ${ERRORS} } }`;
export const LOG_IN = gql`mutation LogIn($input: LogInInput!) { logIn(input: $input) {
  token viewer { id } ${ERRORS} } }`;
export const LOG_OUT = gql`mutation LogOut($input: LogOutInput!) { logOut(input: $input) { ${ERRORS} } }`;

// The account steps that go through the user's mailbox (recovery.tsx).
export const CONFIRM_EMAIL = gql`mutation ConfirmEmail($input: ConfirmEmailInput!) {
  confirmEmail(input: $input) { email ${ERRORS} } }`;
export const RESEND_CONFIRMATION = gql`mutation ResendConfirmation { resendConfirmation { sent ${ERRORS} } }`;
export const REQUEST_PASSWORD_RESET = gql`mutation RequestPasswordReset($input: RequestPasswordResetInput!) {
  requestPasswordReset(input: $input) { accepted ${ERRORS} } }`;
export const RESET_PASSWORD = gql`mutation ResetPassword($input: ResetPasswordInput!) {
  resetPassword(input: $input) { token viewer { id } ${ERRORS} } }`;
export const CHANGE_EMAIL = gql`mutation ChangeEmail($input: ChangeEmailInput!) {
  changeEmail(input: $input) { pendingEmail ${ERRORS} } }`;

// Notification mail (notifications.tsx): a toggle per kind, and the mailed unsubscribe link.
export const NOTIFICATION_SETTINGS = gql`query NotificationSettings {
  me { id notificationSettings { kind email } } }`;
export const UPDATE_NOTIFICATION_SETTINGS = gql`mutation UpdateNotificationSettings(
  $input: UpdateNotificationSettingsInput!) { updateNotificationSettings(input: $input) {
  settings { kind email } ${ERRORS} } }`;
export const UNSUBSCRIBE = gql`mutation Unsubscribe($input: UnsubscribeInput!) {
  unsubscribe(input: $input) { kind ${ERRORS} } }`;

export const TASKS = gql`query Tasks($first: Int, $after: String, $filter: TaskFilter) {
  tasks(first: $first, after: $after, filter: $filter, orderBy: NEWEST) {
    edges { cursor node { ${TASK} } } pageInfo { hasNextPage endCursor } feedCursor } }`;
export const TASK_FEED = gql`subscription TaskFeed($filter: TaskFilter, $after: String) {
  taskFeed(filter: $filter, after: $after) { cursor kind task { ${TASK} } } }`;
export const TASK_DETAIL = gql`query Task($id: ID!) { task(id: $id) { ${TASK} } }`;

export const CLAIM = gql`mutation Claim($input: ClaimTaskInput!) { claimTask(input: $input) {
  submission { ${SUBMISSION} } ${ERRORS} } }`;
export const RELEASE = gql`mutation Release($input: SubmissionActionInput!) { releaseClaim(input: $input) {
  submission { id status } ${ERRORS} } }`;
export const SUBMIT = gql`mutation Submit($input: SubmitProofInput!) { submitProof(input: $input) {
  submission { ${SUBMISSION} } ${ERRORS} } }`;
export const SUBMISSION_DETAIL = gql`query Submission($id: ID!) { node(id: $id) {
  ... on Submission { ${SUBMISSION} } } }`;
export const CREATE_UPLOAD = gql`mutation CreateUpload($input: CreateUploadInput!) {
  createUpload(input: $input) { upload { id } uploadUrl ${ERRORS} } }`;

const SUBMISSION_ROW = `id status claimExpiresAt submittedAt feedback rejectionReason
  task { id title reward { amount } }`;
export const MY_SUBMISSIONS = gql`query MySubmissions($first: Int, $after: String) {
  mySubmissions(first: $first, after: $after) {
    edges { cursor node { ${SUBMISSION_ROW} } } pageInfo { hasNextPage endCursor } feedCursor } }`;
// "My work" follows its page with its own myEvents, started after the page's feedCursor.
export const MY_SUBMISSIONS_LIVE = gql`subscription MySubmissionsLive($after: String) {
  myEvents(after: $after) { cursor type submission { ${SUBMISSION_ROW} } } }`;

// One subscription per signed-in tab: notifications, submission changes and statement rows.
export const MY_EVENTS = gql`subscription MyEvents($after: String) {
  myEvents(after: $after, includeStatement: true) { cursor type message createdAt task { id }
    submission { id status feedback rejectionReason }
    statementRow { cursor kind amount { amount } fee { amount } balanceAfter { amount } createdAt
      task { id title } }
    payout { id status } } }`;

const ROW = "cursor kind amount { amount } fee { amount } balanceAfter { amount } createdAt task { id title }";
export const STATEMENT = gql`query Statement($first: Int, $after: String) {
  statement(first: $first, after: $after) { edges { cursor node { ${ROW} } }
    pageInfo { hasNextPage endCursor } } }`;

export const DEPOSIT = gql`mutation Deposit($input: CreateDepositInput!) { createDeposit(input: $input) {
  deposit { id status } viewer { id balance { amount currency } } ${ERRORS} } }`;
export const PAYOUT = gql`mutation Payout($input: RequestPayoutInput!) { requestPayout(input: $input) {
  payout { id status amount { amount } } viewer { id balance { amount currency } } ${ERRORS} } }`;
export const MY_PAYOUTS = gql`query MyPayouts($first: Int, $after: String) {
  myPayouts(first: $first, after: $after) { edges { cursor node { id amount { amount } method
    destination status createdAt failureReason } } pageInfo { hasNextPage endCursor } } }`;

export const CREATE_TASK = gql`mutation CreateTask($input: CreateTaskInput!) { createTask(input: $input) {
  task { id title } ${ERRORS} } }`;
const MY_TASK = "id title status slots slotsRemaining reward { amount } createdAt";
export const MY_TASKS = gql`query MyTasks($first: Int, $after: String) {
  myTasks(first: $first, after: $after) { edges { cursor node { ${MY_TASK} } }
    pageInfo { hasNextPage endCursor } feedCursor } }`;
export const MY_TASKS_LIVE = gql`subscription MyTasksLive($after: String) {
  taskSubmissions(after: $after) { cursor kind submission { id task { ${MY_TASK} } } } }`;

const REVIEWED = `id status submittedAt claimedAt feedback rejectionReason rejectionComment reusedProof
  worker { id displayName }
  answers { label value images { ${IMAGE} } }
  imageMatches { distance sameTask image { id } otherSubmission { id } }`;
export const TASK_SUBMISSIONS = gql`query TaskSubmissions($id: ID!, $first: Int, $after: String) {
  task(id: $id) { ${TASK} batch { columns progress { items free claimed submitted approved rejected } }
    submissions(first: $first, after: $after) {
    edges { cursor node { ${REVIEWED} } } pageInfo { hasNextPage endCursor } feedCursor } } }`;
export const SUBMISSIONS_LIVE = gql`subscription SubmissionsLive($taskId: ID, $after: String) {
  taskSubmissions(taskId: $taskId, after: $after) { cursor kind submission { ${REVIEWED} } } }`;
export const TASK_NUMBERS = gql`query TaskNumbers($id: ID!) { taskAnalytics(taskId: $id) {
  funnel { claimed submitted approved rejected } approvalRate slotsRemaining
  money { escrowed { amount } paid { amount } fees { amount } } } }`;

export const APPROVE = gql`mutation Approve($input: ApproveSubmissionInput!) { approveSubmission(input: $input) {
  submission { id status } ${ERRORS} } }`;
export const REJECT = gql`mutation Reject($input: RejectSubmissionInput!) { rejectSubmission(input: $input) {
  submission { id status } ${ERRORS} } }`;
export const REVISE = gql`mutation Revise($input: RequestRevisionInput!) { requestRevision(input: $input) {
  submission { id status } ${ERRORS} } }`;

export const UPDATE_PROFILE = gql`mutation UpdateProfile($input: UpdateProfileInput!) {
  updateProfile(input: $input) { viewer { id displayName country user { id avatarUrl bio } } ${ERRORS} } }`;

export const MESSAGES = gql`query Messages($taskId: ID!, $workerId: ID, $first: Int, $after: String) {
  messages(taskId: $taskId, workerId: $workerId, first: $first, after: $after) {
    edges { cursor node { id body senderId createdAt } } pageInfo { hasNextPage endCursor } } }`;
export const SEND_MESSAGE = gql`mutation SendMessage($input: SendMessageInput!) { sendMessage(input: $input) {
  message { id body senderId createdAt } ${ERRORS} } }`;

export const CREATE_BATCH = gql`mutation CreateBatch($input: CreateBatchInput!) { createBatch(input: $input) {
  task { id title } ${ERRORS} } }`;

export const MY_NUMBERS = gql`query MyNumbers($from: DateTime!, $to: DateTime!) {
  employerAnalytics(from: $from, to: $to) { totals { tasks slotsRemaining approvalRate
    funnel { claimed submitted approved rejected }
    money { escrowed { amount } paid { amount } fees { amount } refunded { amount } } } } }`;

// The viewer's sessions on the profile screen (sessions.tsx).
export const MY_SESSIONS = gql`query MySessions { mySessions { id createdAt lastSeenAt clientAddress userAgent current } }`;
export const REVOKE_SESSION = gql`mutation RevokeSession($input: RevokeSessionInput!) {
  revokeSession(input: $input) { sessionId ${ERRORS} } }`;

// Two factors and saved payout methods (security.tsx).
const METHOD = "id method destination label createdAt confirmedAt usableFrom";
export const START_TWO_FACTOR = gql`mutation StartTwoFactor { startTwoFactor { secret otpauthUri ${ERRORS} } }`;
export const ENABLE_TWO_FACTOR = gql`mutation EnableTwoFactor($input: TwoFactorCodeInput!) {
  enableTwoFactor(input: $input) { recoveryCodes viewer { id twoFactorEnabled } ${ERRORS} } }`;
export const DISABLE_TWO_FACTOR = gql`mutation DisableTwoFactor($input: TwoFactorCodeInput!) {
  disableTwoFactor(input: $input) { viewer { id twoFactorEnabled } ${ERRORS} } }`;
export const MY_PAYOUT_METHODS = gql`query MyPayoutMethods { myPayoutMethods { ${METHOD} } }`;
export const ADD_PAYOUT_METHOD = gql`mutation AddPayoutMethod($input: AddPayoutMethodInput!) {
  addPayoutMethod(input: $input) { payoutMethod { ${METHOD} } ${ERRORS} } }`;
export const CONFIRM_PAYOUT_METHOD = gql`mutation ConfirmPayoutMethod($input: ConfirmPayoutMethodInput!) {
  confirmPayoutMethod(input: $input) { payoutMethod { ${METHOD} } ${ERRORS} } }`;
export const REMOVE_PAYOUT_METHOD = gql`mutation RemovePayoutMethod($input: RemovePayoutMethodInput!) {
  removePayoutMethod(input: $input) { payoutMethod { ${METHOD} } ${ERRORS} } }`;
