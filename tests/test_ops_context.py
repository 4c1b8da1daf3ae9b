"""An op called without a context gets a fresh one each call (no shared default)."""

from __future__ import annotations

import inspect

import pytest

from editor.core.context import OpContext
from editor.ops import all_ops


@pytest.mark.parametrize("spec", all_ops(), ids=lambda s: s.name)
def test_ctx_defaults_to_none(spec):
    """A default evaluated once at import would be one object shared by every call."""
    assert inspect.signature(spec.func).parameters["ctx"].default is None


def test_two_calls_without_ctx_do_not_share_extras(astronaut, monkeypatch):
    """Each call records its own corners; before, both wrote into one default context."""
    from editor.ops.features import harris

    made: list[OpContext] = []
    init = OpContext.__init__

    def counting_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(OpContext, "__init__", counting_init)
    harris(astronaut[:256, :256])
    harris(astronaut[256:, 256:])
    assert len(made) == 2 and made[0] is not made[1]
    first, second = (c.extras["points"] for c in made)
    assert first and second and first != second

