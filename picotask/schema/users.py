"""Accounts as the API shows them: the private `Viewer` and the public `User` profile."""

from __future__ import annotations

from datetime import datetime

import strawberry

from picotask.models.users import User
from picotask.resolvers.context import Info
from picotask.schema.errors import UserError
from picotask.schema.relay import Node, to_global_id
from picotask.schema.wallet import Money, Wallet


@strawberry.type(name="User", description="A public profile: what others may see of a user.")
class UserType(Node):
    display_name: str
    country: str
    skills: list[str]
    avatar_url: str | None
    bio: str | None
    created_at: datetime

    @classmethod
    def from_model(cls, user: User) -> UserType:
        return cls(
            id=to_global_id("User", user.id),
            display_name=user.display_name,
            country=user.country,
            skills=list(user.skills),
            avatar_url=user.avatar_url,
            bio=user.bio,
            created_at=user.created_at,
        )


@strawberry.type(description="The signed-in user, with what only they may see.")
class Viewer:
    id: strawberry.ID
    email: str
    display_name: str
    country: str
    is_admin: bool
    _user: strawberry.Private[User]

    @strawberry.field(description="The viewer's public profile.")
    def user(self) -> UserType:
        return UserType.from_model(self._user)

    @strawberry.field(description="Available balance: can be spent or withdrawn now.")
    async def balance(self, info: Info) -> Money:
        services = info.context.services
        return Money.of(await services.wallet.balance(self._user.id), services.settings.currency)

    @strawberry.field(description="Available, held, in escrow, and lifetime totals.")
    async def wallet(self, info: Info) -> Wallet:
        services = info.context.services
        summary = await services.wallet.summary(self._user.id)
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
        default=None, description="An http(s) URL; an empty string removes it."
    )
    skills: list[str] | None = None
    current_password: str | None = strawberry.field(
        default=None, description="Required with newPassword."
    )
    new_password: str | None = strawberry.field(
        default=None, description="Changing it revokes every session; the payload has a new token."
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
