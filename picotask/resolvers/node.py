"""`node(id:)`: any object the viewer may see, null for one they may not."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry

from picotask.resolvers.groups import hire_group_node, qualification_node
from picotask.resolvers.payout_methods import payout_method_node
from picotask.resolvers.payouts import deposit_node, payout_node
from picotask.resolvers.sessions import session_node
from picotask.resolvers.submissions import submission_node
from picotask.resolvers.tasks import task_node
from picotask.resolvers.uploads import upload_node
from picotask.resolvers.webhooks import webhook_delivery_node, webhook_endpoint_node
from picotask.schema.context import Info
from picotask.schema.relay import Node, from_global_id
from picotask.schema.users import UserType


async def _user(info: Info, pk: int) -> Node | None:
    user = await info.context.loaders.user_by_id.load(pk)
    return UserType.from_model(user) if user else None


NodeResolver = Callable[[Info, int], Awaitable[Node | None]]
NODE_RESOLVERS: dict[str, NodeResolver] = {
    "User": _user,
    "Payout": payout_node,
    "Deposit": deposit_node,
    "SavedPayoutMethod": payout_method_node,
    "Task": task_node,
    "Submission": submission_node,
    "Upload": upload_node,
    "Session": session_node,
    "HireGroup": hire_group_node,
    "Qualification": qualification_node,
    "WebhookEndpoint": webhook_endpoint_node,
    "WebhookDelivery": webhook_delivery_node,
}


@strawberry.type
class NodeQuery:
    @strawberry.field(description="Any object by its global id; null if absent or not visible.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        parsed = from_global_id(id)
        if parsed is None or parsed[0] not in NODE_RESOLVERS:
            return None
        type_name, pk = parsed
        return await NODE_RESOLVERS[type_name](info, pk)
