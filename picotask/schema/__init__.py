"""The root schema, composed from per-domain parts."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry import Schema
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from picotask.resolvers.events import EventsQuery, EventsSubscription
from picotask.resolvers.marketplace import MarketplaceMutation, MarketplaceQuery
from picotask.resolvers.moderation import ModerationMutation
from picotask.resolvers.node import NodeQuery
from picotask.resolvers.payouts import PayoutsMutation, PayoutsQuery
from picotask.resolvers.trust import TrustMutation, TrustQuery
from picotask.resolvers.users import UsersMutation, UsersQuery
from picotask.schema.safety import extensions, log_errors
from picotask.schema.scalars import SCALAR_MAP
from picotask.server.settings import Settings


@strawberry.type
class Query(UsersQuery, MarketplaceQuery, PayoutsQuery, EventsQuery, TrustQuery, NodeQuery):
    pass


@strawberry.type
class Mutation(
    UsersMutation, MarketplaceMutation, PayoutsMutation, ModerationMutation, TrustMutation
):
    pass


@strawberry.type
class Subscription(EventsSubscription):
    pass


class PicotaskSchema(Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_errors(errors, execution_context)


def build_schema(settings: Settings | None = None) -> PicotaskSchema:
    settings = settings or Settings()
    return PicotaskSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions(settings),
        config=StrawberryConfig(
            scalar_map=SCALAR_MAP,
            # Suggestions would let anyone map the schema while introspection is off.
            disable_field_suggestions=True,
        ),
    )


schema = build_schema()
