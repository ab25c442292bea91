"""The root schema, composed from the per-domain parts below it.

Every root field gets its refusal mapping here (`resolvers/errors.py`), so no resolver can
forget it: mutations answer broken rules with `userErrors`, queries with BAD_USER_INPUT.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import strawberry
from graphql import GraphQLError
from strawberry import Schema
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext
from strawberry.types.base import get_object_definition

from picotask.resolvers.analytics import AnalyticsQuery
from picotask.resolvers.batches import BatchesMutation, BatchesQuery
from picotask.resolvers.errors import Refusals, UserErrors
from picotask.resolvers.events import EventsQuery, EventsSubscription
from picotask.resolvers.groups import GroupsMutation, GroupsQuery
from picotask.resolvers.moderation import ModerationMutation
from picotask.resolvers.node import NodeQuery
from picotask.resolvers.notifications import NotificationsMutation
from picotask.resolvers.payout_methods import PayoutMethodsMutation, PayoutMethodsQuery
from picotask.resolvers.payouts import PayoutsMutation, PayoutsQuery
from picotask.resolvers.quality import QualityMutation, QualityQuery
from picotask.resolvers.recovery import RecoveryMutation
from picotask.resolvers.sessions import SessionsMutation, SessionsQuery
from picotask.resolvers.statement import StatementQuery
from picotask.resolvers.submissions import SubmissionsMutation, SubmissionsQuery
from picotask.resolvers.tasks import TasksMutation, TasksQuery
from picotask.resolvers.trust import TrustMutation, TrustQuery
from picotask.resolvers.uploads import UploadsMutation
from picotask.resolvers.users import UsersMutation, UsersQuery
from picotask.resolvers.webhooks import WebhooksMutation, WebhooksQuery
from picotask.schema.scalars import SCALAR_MAP
from picotask.server.execution import PlainFieldsExecutor, lean_resolvers
from picotask.server.fanout import GroupedExecutor
from picotask.server.safety import code_bad_variables, extensions, hide_suggestions, log_errors
from picotask.settings import Settings


@strawberry.type
class Query(
    UsersQuery,
    SessionsQuery,
    TasksQuery,
    BatchesQuery,
    GroupsQuery,
    SubmissionsQuery,
    PayoutsQuery,
    PayoutMethodsQuery,
    EventsQuery,
    TrustQuery,
    StatementQuery,
    AnalyticsQuery,
    WebhooksQuery,
    QualityQuery,
    NodeQuery,
):
    pass


@strawberry.type
class Mutation(
    UsersMutation,
    RecoveryMutation,
    SessionsMutation,
    NotificationsMutation,
    TasksMutation,
    BatchesMutation,
    GroupsMutation,
    SubmissionsMutation,
    PayoutsMutation,
    PayoutMethodsMutation,
    ModerationMutation,
    TrustMutation,
    UploadsMutation,
    WebhooksMutation,
    QualityMutation,
):
    pass


@strawberry.type
class Subscription(EventsSubscription):
    pass


def _refusals_on_every_root_field() -> None:
    for root, extension in ((Query, Refusals), (Mutation, UserErrors)):
        for field in get_object_definition(root, strict=True).fields:
            if not any(isinstance(e, extension) for e in field.extensions):
                field.extensions.append(extension())


_refusals_on_every_root_field()


class PicotaskExecutor(GroupedExecutor, PlainFieldsExecutor):
    """Each subscription event executed once per group of identical operations
    (server/fanout.py); basic fields (an attribute, no resolver) completed at once
    (server/execution.py)."""


class PicotaskSchema(Schema):
    hides_suggestions = False

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        code_bad_variables(errors)
        if self.hides_suggestions:
            hide_suggestions(errors)
        log_errors(errors, execution_context)


def build_schema(
    settings: Settings | None = None, extra: Sequence[Callable[[], SchemaExtension]] = ()
) -> PicotaskSchema:
    """`extra`: extensions after the safety ones (tracing's: server/tracing.py)."""
    settings = settings or Settings()
    built = PicotaskSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[*extensions(settings), *extra],
        execution_context_class=PicotaskExecutor,
        config=StrawberryConfig(
            scalar_map=SCALAR_MAP,
            # Suggestions would let anyone map the schema while introspection is off.
            disable_field_suggestions=True,
        ),
    )
    # Resolvers that take no argument called without strawberry's generic steps for them.
    lean_resolvers(built)
    # Development keeps them (GraphiQL helps); production, with introspection off, does not.
    built.hides_suggestions = settings.is_production
    return built


schema = build_schema()
