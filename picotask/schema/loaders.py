"""Per-request dataloaders, named `<Model>By<Key>Loader`: one query per batch, never per item.

Over ~300 lines on purpose: the one home of every loader (a short batch function and its class
each) and of `Loaders`, which holds one of each per request; split by domain, `Loaders` would
import them all back.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from functools import cached_property
from typing import Generic, NamedTuple, TypeVar

from strawberry.dataloader import DataLoader
from tortoise.models import Model

from picotask.models.batches import TaskItem
from picotask.models.payouts import Deposit, Payout
from picotask.models.qualifications import Qualification
from picotask.models.quality import GoldAccuracy, GoldItem, ReviewPolicy
from picotask.models.submissions import Submission, SubmissionStatus
from picotask.models.tasks import Task
from picotask.models.uploads import ImageMatch, Upload
from picotask.models.users import User
from picotask.models.webhooks import WebhookDelivery
from picotask.services.accounts.users import median_seconds
from picotask.services.campaigns.batches import progress_of
from picotask.services.core.nested_pages import counts, first_pages
from picotask.services.core.pagination import Page
from picotask.services.quality.grading import AnswerOf, agreement_of, records_of
from picotask.services.targeting.groups import groups_of


async def _users_by_id(keys: Sequence[int]) -> list[User | None]:
    rows = {u.id: u for u in await User.filter(id__in=list(keys))}
    return [rows.get(k) for k in keys]


class UserByIdLoader(DataLoader[int, User | None]):
    def __init__(self) -> None:
        super().__init__(load_fn=_users_by_id)


async def _tasks_by_id(keys: Sequence[int]) -> list[Task | None]:
    rows = {t.id: t for t in await Task.filter(id__in=list(keys))}
    return [rows.get(k) for k in keys]


class TaskByIdLoader(DataLoader[int, Task | None]):
    def __init__(self) -> None:
        super().__init__(load_fn=_tasks_by_id)


async def _items_by_id(keys: Sequence[int]) -> list[TaskItem | None]:
    rows = {i.id: i for i in await TaskItem.filter(id__in=list(keys))}
    return [rows.get(k) for k in keys]


class TaskItemByIdLoader(DataLoader[int, TaskItem | None]):
    def __init__(self) -> None:
        super().__init__(load_fn=_items_by_id)


async def _groups_of(keys: Sequence[int]) -> list[frozenset[int]]:
    return [await groups_of(k) for k in keys]  # one viewer per request: one query


class GroupIdsByWorkerLoader(DataLoader[int, frozenset[int]]):
    def __init__(self) -> None:
        super().__init__(load_fn=_groups_of)


async def _qualifications_by_id(keys: Sequence[int]) -> list[Qualification | None]:
    rows = {q.id: q for q in await Qualification.filter(id__in=list(keys))}
    return [rows.get(k) for k in keys]


class QualificationByIdLoader(DataLoader[int, Qualification | None]):
    def __init__(self) -> None:
        super().__init__(load_fn=_qualifications_by_id)


async def _batch_progress(keys: Sequence[int]) -> list[dict[str, int]]:
    found = await progress_of(list(keys))
    return [found[k] for k in keys]


class BatchProgressByTaskLoader(DataLoader[int, dict[str, int]]):
    """A batch's items by state, for every batch of a list in one GROUP BY."""

    def __init__(self) -> None:
        super().__init__(load_fn=_batch_progress)


RECENT_REVIEWS = 200


async def _median_review_seconds(keys: Sequence[int]) -> list[int | None]:
    """Median submission-to-review time per employer over their most recent reviews;
    one query for the whole batch."""
    rows = await (
        Submission.filter(
            task__employer_id__in=list(keys),
            reviewed_at__isnull=False,
            submitted_at__isnull=False,
            auto_approved=False,
        )
        .order_by("-reviewed_at")
        .limit(RECENT_REVIEWS * len(keys))
        .values("task__employer_id", "submitted_at", "reviewed_at")
    )
    durations: dict[int, list[float]] = {}
    for row in rows:
        seconds = (row["reviewed_at"] - row["submitted_at"]).total_seconds()
        bucket = durations.setdefault(row["task__employer_id"], [])
        if len(bucket) < RECENT_REVIEWS:
            bucket.append(seconds)
    medians = {k: median_seconds(v) for k, v in durations.items()}
    return [None if medians.get(k) is None else round(medians[k] or 0) for k in keys]


class MedianReviewSecondsByEmployerLoader(DataLoader[int, int | None]):
    def __init__(self) -> None:
        super().__init__(load_fn=_median_review_seconds)


async def _submissions_by_id(keys: Sequence[int]) -> list[Submission | None]:
    rows = {s.id: s for s in await Submission.filter(id__in=list(keys))}
    return [rows.get(k) for k in keys]


class SubmissionByIdLoader(DataLoader[int, Submission | None]):
    def __init__(self) -> None:
        super().__init__(load_fn=_submissions_by_id)


async def _payouts_by_id(keys: Sequence[int]) -> list[Payout | None]:
    rows = {p.id: p for p in await Payout.filter(id__in=list(keys))}
    return [rows.get(k) for k in keys]


class PayoutByIdLoader(DataLoader[int, Payout | None]):
    def __init__(self) -> None:
        super().__init__(load_fn=_payouts_by_id)


async def _deposits_by_id(keys: Sequence[int]) -> list[Deposit | None]:
    rows = {d.id: d for d in await Deposit.filter(id__in=list(keys))}
    return [rows.get(k) for k in keys]


class DepositByIdLoader(DataLoader[int, Deposit | None]):
    def __init__(self) -> None:
        super().__init__(load_fn=_deposits_by_id)


async def _approved_by_category(keys: Sequence[int]) -> list[dict[str, int]]:
    """Approved submissions per task category, for each worker; one query for the batch."""
    rows = await Submission.filter(
        worker_id__in=list(keys), status=SubmissionStatus.APPROVED
    ).values("worker_id", "task__category")
    counts: dict[int, dict[str, int]] = {k: {} for k in keys}
    for row in rows:
        by_category = counts[row["worker_id"]]
        category = str(row["task__category"])
        by_category[category] = by_category.get(category, 0) + 1
    return [counts[k] for k in keys]


class ApprovedByCategoryLoader(DataLoader[int, dict[str, int]]):
    def __init__(self) -> None:
        super().__init__(load_fn=_approved_by_category)


async def _uploads_by_id(keys: Sequence[int]) -> list[Upload | None]:
    rows = {u.id: u for u in await Upload.filter(id__in=list(keys))}
    return [rows.get(k) for k in keys]


class UploadByIdLoader(DataLoader[int, Upload | None]):
    def __init__(self) -> None:
        super().__init__(load_fn=_uploads_by_id)


async def _image_matches(keys: Sequence[int]) -> list[list[ImageMatch]]:
    found: dict[int, list[ImageMatch]] = {k: [] for k in keys}
    for match in await ImageMatch.filter(submission_id__in=list(keys)).order_by("distance", "id"):
        found[match.submission_id].append(match)
    return [found[k] for k in keys]


class ImageMatchesBySubmissionLoader(DataLoader[int, list[ImageMatch]]):
    def __init__(self) -> None:
        super().__init__(load_fn=_image_matches)


M = TypeVar("M", bound=Model)


class ChildPageKey(NamedTuple):
    parent_id: int
    first: int
    before_id: int | None  # the decoded `after` cursor
    only: tuple[str, ...] = ()  # sorted values of the loader's filter column; () for all rows


class ChildCountKey(NamedTuple):
    parent_id: int
    only: tuple[str, ...]


class ChildCountLoader(DataLoader[ChildCountKey, int]):
    """How many `model` rows each parent has (with `column` in `only`, if given): one GROUP BY
    per distinct filter in the batch (a list of parents shares one)."""

    def __init__(self, model: type[Model], parent: str, column: str | None = None) -> None:
        self.model, self.parent, self.column = model, parent, column
        super().__init__(load_fn=self._counts)

    def where(self, only: tuple[str, ...]) -> dict[str, Sequence[str]]:
        return {self.column: only} if only and self.column else {}

    async def _counts(self, keys: Sequence[ChildCountKey]) -> list[int]:
        parents: defaultdict[tuple[str, ...], list[int]] = defaultdict(list)
        for key in keys:
            parents[key.only].append(key.parent_id)
        found = {
            only: await counts(self.model, self.parent, ids, self.where(only))
            for only, ids in parents.items()
        }
        return [found[k.only][k.parent_id] for k in keys]


class ChildPageLoader(DataLoader[ChildPageKey, Page[M]], Generic[M]):
    """A nested connection (newest first) of `model` rows under each parent of a list, in two
    queries per distinct `first`, `after` and filter (`column` in `only`), its totalCount
    batched as well."""

    def __init__(self, model: type[M], parent: str, column: str | None = None) -> None:
        self.model, self.parent = model, parent
        self.counter = ChildCountLoader(model, parent, column)
        super().__init__(load_fn=self._pages)

    async def _pages(self, keys: Sequence[ChildPageKey]) -> list[Page[M]]:
        groups: defaultdict[tuple[int, int | None, tuple[str, ...]], list[int]]
        groups = defaultdict(list)
        for key in keys:
            groups[key.first, key.before_id, key.only].append(key.parent_id)
        pages: dict[ChildPageKey, Page[M]] = {}
        for (first, before_id, only), parents in groups.items():
            found = await first_pages(
                self.model,
                self.parent,
                parents,
                first=first,
                before_id=before_id,
                where=self.counter.where(only),
                count=functools.partial(self._counter, only=only),
            )
            for parent_id, page in found.items():
                pages[ChildPageKey(parent_id, first, before_id, only)] = page
        return [pages[k] for k in keys]

    def _counter(self, parent_id: int, only: tuple[str, ...]) -> Callable[[], Awaitable[int]]:
        key = ChildCountKey(parent_id, only)
        return lambda: self.counter.load(key)


async def _gold_items(keys: Sequence[int]) -> list[list[GoldItem]]:
    found: dict[int, list[GoldItem]] = {k: [] for k in keys}
    for item in await GoldItem.filter(task_id__in=list(keys)).order_by("position"):
        found[item.task_id].append(item)
    return [found[k] for k in keys]


class GoldItemsByTaskLoader(DataLoader[int, list[GoldItem]]):
    def __init__(self) -> None:
        super().__init__(load_fn=_gold_items)


async def _review_policies(keys: Sequence[int]) -> list[ReviewPolicy | None]:
    rows = {p.task_id: p for p in await ReviewPolicy.filter(task_id__in=list(keys))}
    return [rows.get(k) for k in keys]


class ReviewPolicyByTaskLoader(DataLoader[int, ReviewPolicy | None]):
    def __init__(self) -> None:
        super().__init__(load_fn=_review_policies)


async def _gold_accuracy(keys: Sequence[tuple[int, int]]) -> list[GoldAccuracy | None]:
    found = await records_of(keys)
    return [found.get(k) for k in keys]


class GoldAccuracyByEmployerWorkerLoader(DataLoader[tuple[int, int], GoldAccuracy | None]):
    """Keyed by (employer id, worker id)."""

    def __init__(self) -> None:
        super().__init__(load_fn=_gold_accuracy)


async def _agreement(keys: Sequence[AnswerOf]) -> list[float | None]:
    found = await agreement_of(keys)
    return [found.get(k) for k in keys]


class AgreementByAnswerKeyLoader(DataLoader[AnswerOf, float | None]):
    def __init__(self) -> None:
        super().__init__(load_fn=_agreement)


class Loaders:
    """Made fresh per HTTP request and per subscription event: nothing is cached longer.
    Each loader is built on first use, so a fresh set costs nothing when unused (the live
    feed makes one per subscriber per event)."""

    @cached_property
    def user_by_id(self) -> UserByIdLoader:
        return UserByIdLoader()

    @cached_property
    def task_by_id(self) -> TaskByIdLoader:
        return TaskByIdLoader()

    @cached_property
    def task_item_by_id(self) -> TaskItemByIdLoader:
        return TaskItemByIdLoader()

    @cached_property
    def group_ids_by_worker(self) -> GroupIdsByWorkerLoader:
        return GroupIdsByWorkerLoader()

    @cached_property
    def qualification_by_id(self) -> QualificationByIdLoader:
        return QualificationByIdLoader()

    @cached_property
    def batch_progress_by_task(self) -> BatchProgressByTaskLoader:
        return BatchProgressByTaskLoader()

    @cached_property
    def submission_by_id(self) -> SubmissionByIdLoader:
        return SubmissionByIdLoader()

    @cached_property
    def payout_by_id(self) -> PayoutByIdLoader:
        return PayoutByIdLoader()

    @cached_property
    def deposit_by_id(self) -> DepositByIdLoader:
        return DepositByIdLoader()

    @cached_property
    def submission_page_by_task(self) -> ChildPageLoader[Submission]:
        """`Task.submissions`, filtered by status."""
        return ChildPageLoader(Submission, "task_id", "status")

    @cached_property
    def approved_by_category(self) -> ApprovedByCategoryLoader:
        return ApprovedByCategoryLoader()

    @cached_property
    def median_review_seconds_by_employer(self) -> MedianReviewSecondsByEmployerLoader:
        return MedianReviewSecondsByEmployerLoader()

    @cached_property
    def upload_by_id(self) -> UploadByIdLoader:
        return UploadByIdLoader()

    @cached_property
    def image_matches_by_submission(self) -> ImageMatchesBySubmissionLoader:
        return ImageMatchesBySubmissionLoader()

    @cached_property
    def gold_items_by_task(self) -> GoldItemsByTaskLoader:
        return GoldItemsByTaskLoader()

    @cached_property
    def review_policy_by_task(self) -> ReviewPolicyByTaskLoader:
        return ReviewPolicyByTaskLoader()

    @cached_property
    def gold_accuracy_by_employer_worker(self) -> GoldAccuracyByEmployerWorkerLoader:
        return GoldAccuracyByEmployerWorkerLoader()

    @cached_property
    def webhook_delivery_page_by_endpoint(self) -> ChildPageLoader[WebhookDelivery]:
        return ChildPageLoader(WebhookDelivery, "endpoint_id")

    @cached_property
    def agreement_by_answer_key(self) -> AgreementByAnswerKeyLoader:
        return AgreementByAnswerKeyLoader()
