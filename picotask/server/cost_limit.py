"""Bounded cost per operation and per client, before anything runs.

After validation, the operation's cost (server/cost.py) is checked against the limit for one
operation (QUERY_TOO_COMPLEX), then charged to the client's budget (RATE_LIMITED with
`retryAfterSeconds` when it does not hold enough). Both refusals come back before execution,
like a validation error: a 400 over HTTP (429 for RATE_LIMITED, see graphql_view), an `error`
message on a websocket. A query or mutation answers with its cost in `extensions.cost`, in
the shape of Shopify's Admin API.

A subscription is charged once, when it starts, the cost of its selection for one event; its
events are not charged (one connection holds a bounded number of subscriptions, and a client
that falls behind is dropped) and do not repeat the cost, so every subscriber's frames stay
the same.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

from graphql import OperationType as GraphQLOperationType
from strawberry.extensions import SchemaExtension

from picotask.schema.context import Context
from picotask.schema.errors import QueryTooComplex, RateLimited
from picotask.server.cost import CostAnalysis, operation_of
from picotask.server.series import COST, COST_REFUSALS
from picotask.services.accounts.rate_limits import Taken
from picotask.subscriptions.direct import outlet


class CostLimit(SchemaExtension):
    def __init__(self, analysis: CostAnalysis, max_cost: int) -> None:
        self.analysis = analysis
        self.max_cost = max_cost
        self.requested: int | None = None
        self.taken: Taken | None = None

    async def on_validate(self) -> AsyncIterator[None]:
        """Runs after the validation cache's hook: a document it refused costs nothing."""
        run = self.execution_context
        document = run.graphql_document
        operation = operation_of(document, run.operation_name) if document else None
        transport = outlet.get()
        resumed = transport is not None and transport.resumed is not None
        if run.pre_execution_errors or document is None or operation is None or resumed:
            yield  # a subscription that rested and resumes was charged when it started
            return
        context: Context = run.context
        # At least 1: no request is free, not even `{ __typename }`.
        cost = max(
            1,
            self.analysis.cost(
                run.schema._schema, document, operation, run.variables or {}, run.query
            ),
        )
        self.requested = cost
        subscription = operation.operation == GraphQLOperationType.SUBSCRIPTION
        COST.labels(operation.operation.value).observe(cost)
        if cost > self.max_cost:
            COST_REFUSALS.labels("too_complex").inc()
            run.pre_execution_errors = [QueryTooComplex(cost, self.max_cost)]
        else:
            budget = context.services.cost_budget
            viewer = context.viewer
            self.taken = await budget.charge(
                cost,
                user_id=viewer.id if viewer is not None else None,
                address=context.client_address,
            )
            if not self.taken.allowed:
                COST_REFUSALS.labels("budget").inc()
                run.pre_execution_errors = [
                    RateLimited(
                        f"This operation costs {cost} points and {math.floor(self.taken.available)}"
                        " are left in your budget.",
                        self.taken.retry_after,
                        cost=self._cost(),
                    )
                ]
        if not subscription:
            # In the results, not `get_results`: an extension with results of its own would
            # make every subscription frame go through strawberry (server/direct.py).
            run.extensions_results["cost"] = self._cost()
        yield

    def _cost(self) -> dict[str, Any]:
        cost: dict[str, Any] = {"requestedQueryCost": self.requested}
        if self.taken is not None:
            bucket = self.execution_context.context.services.cost_budget.bucket
            cost["throttleStatus"] = {
                "maximumAvailable": bucket.capacity,
                "currentlyAvailable": math.floor(self.taken.available),
                "restoreRate": bucket.restore_per_second,
            }
        return cost
