"""Tortoise models, one module per domain. Nothing here imports GraphQL."""

MODEL_MODULES = [
    "picotask.models.users",
    "picotask.models.ledger",
    "picotask.models.marketplace",
    "picotask.models.events",
    "picotask.models.trust",
]
