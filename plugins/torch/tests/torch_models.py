"""Small models the tests decorate (defined once, decorated per test where settings matter)."""

from __future__ import annotations

import torch
from torch import nn

from flowcept import Flowcept


class MLP(nn.Module):
    """Two linear layers around a ReLU; takes **kwargs so the decorator's options reach it too."""

    def __init__(self, width: int = 8, **kwargs):
        super().__init__()
        self.received = dict(kwargs)
        self.fc1 = nn.Linear(4, width)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(width, 2)

    def forward(self, x, scale=None):
        y = self.fc2(self.act(self.fc1(x)))
        return y * scale if scale is not None else y


class Strict(nn.Module):
    """An __init__ without **kwargs: the decorator's options must not reach it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 1)

    def forward(self, x):
        return self.fc(x)


class Failing(nn.Module):
    def __init__(self, **kwargs):
        super().__init__()
        self.fc = nn.Linear(3, 1)

    def forward(self, x):
        if x.shape[-1] != 3:
            raise ValueError(f"expected 3 features, got {x.shape[-1]}")
        return self.fc(x)


def data(n: int = 6) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(n, 4)


def forwards(workflow_id: str | None = None, subtype: str = "parent_forward") -> list[dict]:
    """Stored forward tasks (of a workflow), oldest first."""
    query: dict = {"subtype": subtype}
    if workflow_id is not None:
        query["workflow_id"] = workflow_id
    return sorted(Flowcept.db.task_query(query), key=lambda d: (d["started_at"], d["task_id"]))


def saved_class():
    """A decorated class importable by name (pickling a model refers to its class by module and name)."""
    return Saved


from flowcept import flowcept_torch  # noqa: E402  (after the plain classes, which stay undecorated)


@flowcept_torch
class Saved(MLP):
    """MLP, decorated where it is defined: a pickled instance finds its class again."""
