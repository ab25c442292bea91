"""Per-request dataloaders, named `<Model>By<Key>Loader`: one query per batch, never per item."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from picotask.models.users import User


async def _users_by_id(keys: Sequence[int]) -> list[User | None]:
    rows = {u.id: u for u in await User.filter(id__in=list(keys))}
    return [rows.get(k) for k in keys]


class UserByIdLoader(DataLoader[int, User | None]):
    def __init__(self) -> None:
        super().__init__(load_fn=_users_by_id)


class Loaders:
    """Made fresh per HTTP request and per subscription event: nothing is cached longer."""

    def __init__(self) -> None:
        self.user_by_id = UserByIdLoader()
