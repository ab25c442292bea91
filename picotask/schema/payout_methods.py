"""Saved payout methods and two factors as the API shows them."""

from __future__ import annotations

from datetime import datetime

import strawberry

from picotask.models.payouts import PayoutMethod, SavedPayoutMethod
from picotask.schema.errors import UserError
from picotask.schema.relay import Node, to_global_id
from picotask.schema.users import Viewer

_CODE = "With two factors on: the code the authenticator app shows now."


@strawberry.type(
    name="SavedPayoutMethod",
    description="A destination saved for payouts: usable once confirmed and past its cool-down.",
)
class SavedPayoutMethodType(Node):
    method: PayoutMethod
    destination: str
    label: str | None
    created_at: datetime
    confirmed_at: datetime | None = strawberry.field(
        description="When a two-factor code or the mailed link confirmed it; null until then."
    )
    usable_from: datetime | None = strawberry.field(
        description="Payouts can go to it from then (the cool-down after confirmation)."
    )

    @classmethod
    def from_model(cls, row: SavedPayoutMethod) -> SavedPayoutMethodType:
        return cls(
            id=to_global_id("SavedPayoutMethod", row.id),
            method=row.method,
            destination=row.destination,
            label=row.label,
            created_at=row.created_at,
            confirmed_at=row.confirmed_at,
            usable_from=row.usable_from,
        )


@strawberry.input
class AddPayoutMethodInput:
    method: PayoutMethod
    destination: str = strawberry.field(
        description="The PayPal or Payoneer account's email, or a crypto address (its checksum "
        "is checked)."
    )
    label: str | None = None
    two_factor_code: str | None = strawberry.field(default=None, description=_CODE)


@strawberry.input
class ConfirmPayoutMethodInput:
    token: str = strawberry.field(description="From the link mailed by addPayoutMethod.")


@strawberry.input
class RemovePayoutMethodInput:
    payout_method_id: strawberry.ID
    two_factor_code: str | None = strawberry.field(default=None, description=_CODE)


@strawberry.type
class PayoutMethodPayload:
    payout_method: SavedPayoutMethodType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class StartTwoFactorPayload:
    secret: str | None = strawberry.field(
        default=None, description="Base32, for apps that take it typed in."
    )
    otpauth_uri: str | None = strawberry.field(
        default=None, description="otpauth://totp/… for the app (shown as a QR code)."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class TwoFactorCodeInput:
    code: str = strawberry.field(
        description="The code the app shows now (disableTwoFactor: or a recovery code)."
    )


@strawberry.type
class EnableTwoFactorPayload:
    recovery_codes: list[str] | None = strawberry.field(
        default=None,
        description="Ten single-use codes for when the app is lost: shown this once only.",
    )
    viewer: Viewer | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DisableTwoFactorPayload:
    viewer: Viewer | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
