"""Accounts as the API shows them: the private `Viewer` and the public `User` profile."""

from __future__ import annotations

from datetime import datetime

import strawberry

from picotask.models.users import User
from picotask.schema.context import Info
from picotask.schema.errors import UserError
from picotask.schema.money import Money, Wallet
from picotask.schema.notifications import NotificationSettingType
from picotask.schema.relay import Node, to_global_id
from picotask.schema.uploads import base_url
from picotask.services.accounts.users import approval_rate, may_see_money


@strawberry.type(description="A user's record as a worker: what an employer checks.")
class WorkerStats:
    approved_count: int
    rejected_count: int = strawberry.field(description="Final rejections only.")
    approval_rate: float | None = strawberry.field(
        description="approved / (approved + rejected); null before any review."
    )
    earned: Money | None = strawberry.field(
        description="Lifetime rewards and bonuses; only the user and moderators see it, "
        "null for everyone else."
    )
    average_rating: float | None = strawberry.field(description="Stars from employers, 1 to 5.")
    rating_count: int
    _worker_id: strawberry.Private[int]

    @strawberry.field(description="Approved work per task category.")
    async def by_category(self, info: Info) -> list[CategoryCount]:
        counts = await info.context.loaders.approved_by_category.load(self._worker_id)
        return [CategoryCount(category=c, approved=n) for c, n in sorted(counts.items())]


@strawberry.type
class CategoryCount:
    category: str = strawberry.field(description="A TaskCategory value.")
    approved: int


@strawberry.type(description="A user's record as an employer: what a worker checks.")
class EmployerStats:
    tasks_posted: int
    approved_count: int
    rejected_count: int
    approval_rate: float | None
    total_paid: Money | None = strawberry.field(
        description="Lifetime rewards and bonuses paid to workers; only the user and "
        "moderators see it, null for everyone else."
    )
    average_rating: float | None = strawberry.field(description="Stars from workers, 1 to 5.")
    rating_count: int
    _employer_id: strawberry.Private[int]

    @strawberry.field(description="Median time from submission to review, recent reviews.")
    async def median_review_seconds(self, info: Info) -> int | None:
        return await info.context.loaders.median_review_seconds_by_employer.load(self._employer_id)


@strawberry.type(
    name="User",
    description="A public profile: what anyone may see of a user. Money figures only for the "
    "user and moderators; never the email.",
)
class UserType(Node):
    display_name: str
    country: str
    skills: list[str]
    bio: str | None
    created_at: datetime
    _model: strawberry.Private[User]

    @strawberry.field(description="The uploaded avatar's public link, or a link elsewhere.")
    def avatar_url(self, info: Info) -> str | None:
        if self._model.avatar_key:
            return f"{base_url(info)}/{self._model.avatar_key}"
        return self._model.avatar_url

    def _money(self, info: Info, cents: int) -> Money | None:
        if not may_see_money(info.context.viewer, self._model):
            return None
        return Money.of(cents, info.context.services.settings.currency)

    @strawberry.field
    def worker_stats(self, info: Info) -> WorkerStats:
        u = self._model
        return WorkerStats(
            approved_count=u.approved_count,
            rejected_count=u.rejected_count,
            approval_rate=approval_rate(u.approved_count, u.rejected_count),
            earned=self._money(info, u.earned),
            average_rating=u.worker_stars / u.worker_ratings if u.worker_ratings else None,
            rating_count=u.worker_ratings,
            _worker_id=u.id,
        )

    @strawberry.field
    def employer_stats(self, info: Info) -> EmployerStats:
        u = self._model
        return EmployerStats(
            tasks_posted=u.tasks_posted,
            approved_count=u.approvals_given,
            rejected_count=u.rejections_given,
            approval_rate=approval_rate(u.approvals_given, u.rejections_given),
            total_paid=self._money(info, u.paid_out),
            average_rating=u.employer_stars / u.employer_ratings if u.employer_ratings else None,
            rating_count=u.employer_ratings,
            _employer_id=u.id,
        )

    @classmethod
    def from_model(cls, user: User) -> UserType:
        return cls(
            id=to_global_id("User", user.id),
            display_name=user.display_name,
            country=user.country,
            skills=list(user.skills),
            bio=user.bio,
            created_at=user.created_at,
            _model=user,
        )


@strawberry.type(description="The signed-in user, with what only they may see.")
class Viewer:
    id: strawberry.ID
    email: str
    display_name: str
    country: str
    is_admin: bool
    _user: strawberry.Private[User]

    @strawberry.field(
        description="Whether the address was confirmed by the link mailed to it. Until it is, "
        "claiming, posting and withdrawing may be refused (EMAIL_NOT_CONFIRMED)."
    )
    def email_confirmed(self) -> bool:
        return self._user.email_confirmed_at is not None

    @strawberry.field(description="A new address asked for by changeEmail, not yet confirmed.")
    async def pending_email(self, info: Info) -> str | None:
        return await info.context.services.recovery.pending_email(self._user.id)

    @strawberry.field(
        description="Whether two factors are on: payouts and changing the email, the password "
        "or the payout methods then need twoFactorCode."
    )
    def two_factor_enabled(self) -> bool:
        return self._user.two_factor_enabled_at is not None

    @strawberry.field(
        description="Unused two-factor recovery codes; null while two factors are off."
    )
    async def recovery_codes_left(self, info: Info) -> int | None:
        if self._user.two_factor_enabled_at is None:
            return None
        return await info.context.services.two_factor.recovery_codes_left(self._user.id)

    @strawberry.field(description="Which kinds of notification are mailed, every kind listed.")
    async def notification_settings(self, info: Info) -> list[NotificationSettingType]:
        choices = await info.context.services.notifications.of(self._user.id)
        return [NotificationSettingType.of(c) for c in choices]

    @strawberry.field(description="The viewer's public profile.")
    def user(self) -> UserType:
        return UserType.from_model(self._user)

    @strawberry.field(description="Available balance: can be spent or withdrawn now.")
    async def balance(self, info: Info) -> Money:
        services = info.context.services
        return Money.of(await services.payouts.balance(self._user.id), services.settings.currency)

    @strawberry.field(description="Available, held, in escrow, and lifetime totals.")
    async def wallet(self, info: Info) -> Wallet:
        services = info.context.services
        summary = await services.payouts.summary(self._user.id)
        return Wallet.of(summary, services.settings.currency)

    @classmethod
    def from_model(cls, user: User) -> Viewer:
        return cls(
            id=to_global_id("User", user.id),
            email=user.email,
            display_name=user.display_name,
            country=user.country,
            is_admin=user.is_admin,
            _user=user,
        )


@strawberry.input
class SignUpInput:
    email: str
    password: str
    display_name: str
    country: str = strawberry.field(description='ISO 3166-1 alpha-2 code, e.g. "DE".')


@strawberry.input
class LogInInput:
    email: str
    password: str


@strawberry.input
class LogOutInput:
    everywhere: bool = strawberry.field(
        default=False, description="Revoke every session of the user, not only this one."
    )


@strawberry.input
class UpdateProfileInput:
    display_name: str | None = None
    country: str | None = None
    bio: str | None = None
    avatar_url: str | None = strawberry.field(
        default=None, description="An http(s) URL; an empty string removes the avatar."
    )
    avatar_upload_id: strawberry.ID | None = strawberry.field(
        default=None, description="An uploaded avatar (createUpload with purpose AVATAR)."
    )
    skills: list[str] | None = None
    current_password: str | None = strawberry.field(
        default=None, description="Required with newPassword."
    )
    new_password: str | None = strawberry.field(
        default=None, description="Changing it revokes every session; the payload has a new token."
    )
    two_factor_code: str | None = strawberry.field(
        default=None, description="With two factors on, required with newPassword."
    )


@strawberry.type
class AuthPayload:
    token: str | None = None
    viewer: Viewer | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class LogOutPayload:
    success: bool = False
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UpdateProfilePayload:
    viewer: Viewer | None = None
    token: str | None = strawberry.field(
        default=None, description="A new session token, when the password was changed."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class SuspendUserInput:
    user_id: strawberry.ID
    reason: str


@strawberry.input
class UserActionInput:
    user_id: strawberry.ID


@strawberry.type
class UserPayload:
    user: UserType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
