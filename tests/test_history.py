"""HistoryStore: byte budget, minimum levels, spill to disk and transparent reload."""

import numpy as np
import pytest

from editor.core.document import Document
from editor.core.history import HistoryStore, default_budget


def _state(value: int, shape=(100, 100, 3), dtype=np.uint8) -> np.ndarray:
    return np.full(shape, value, dtype)


def test_default_budget_is_min_of_1gib_and_quarter_ram():
    import os

    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert default_budget() == min(1 << 30, ram // 4)


def test_oldest_states_spill_beyond_budget_and_reload_unchanged(tmp_path, coffee):
    photo = np.ascontiguousarray(coffee[:200, :300])  # 180,000 bytes per state
    store = HistoryStore(budget_bytes=400_000, min_levels=1, spill_dir=tmp_path)
    states = [np.clip(photo.astype(int) + 10 * i, 0, 255).astype(np.uint8) for i in range(5)]
    ids = [store.add(s) for s in states]
    assert store.memory_bytes <= 400_000
    spilled = [i for i in ids if store.is_spilled(i)]
    assert spilled == ids[:3]  # the oldest go first
    assert len(list(store.spill_dir.glob("*.npy"))) == 3
    for sid, expected in zip(ids, states, strict=True):  # reloads are bit-exact
        np.testing.assert_array_equal(store.get(sid), expected)
    assert store.memory_bytes <= 400_000
    store.close()
    assert not any(tmp_path.iterdir())


def test_minimum_levels_stay_in_memory_even_over_budget(tmp_path):
    store = HistoryStore(budget_bytes=1, min_levels=3, spill_dir=tmp_path)
    ids = [store.add(_state(i)) for i in range(5)]
    assert [store.is_spilled(i) for i in ids] == [True, True, False, False, False]
    assert store.memory_bytes == 3 * 30_000
    store.close()


def test_reloaded_state_counts_as_recent(tmp_path):
    store = HistoryStore(budget_bytes=60_000, min_levels=1, spill_dir=tmp_path)
    a, b, c = (store.add(_state(i)) for i in range(3))
    assert store.is_spilled(a) and not store.is_spilled(c)
    store.get(a)  # undo back to a: it must be in memory now, b spills instead
    assert not store.is_spilled(a) and store.is_spilled(b)
    store.close()


def test_states_are_read_only_and_release_deletes_spill_files(tmp_path):
    store = HistoryStore(budget_bytes=0, min_levels=1, spill_dir=tmp_path)
    a = store.add(_state(1, dtype=np.uint16))
    b = store.add(_state(2, dtype=np.uint16))
    with pytest.raises(ValueError):
        store.get(b)[0, 0, 0] = 5
    assert store.get(a).dtype == np.uint16 and not store.get(a).flags.writeable
    store.get(b)  # a spilled again
    path_count = len(list(store.spill_dir.glob("*.npy")))
    store.release(a)
    assert len(list(store.spill_dir.glob("*.npy"))) == path_count - 1
    assert a not in store and b in store
    with pytest.raises(KeyError):
        store.get(a)
    store.retain_only({b})
    assert store.ids() == [b]
    store.close()


def test_document_recipe_follows_the_state_chain(tmp_path):
    doc = Document(_state(0), path="x.png", store=HistoryStore(spill_dir=tmp_path))
    s1 = doc.add_state(_state(1), parent=doc.base_id, title="A", op="brightness",
                       params={"amount": 0.1})
    s2 = doc.add_state(_state(2), parent=s1, title="B", op="invert", params={})
    s3 = doc.add_state(_state(3), parent=s1, title="Paint")  # not replayable
    doc.set_current(s2)
    assert doc.recipe_steps() == [("brightness", {"amount": 0.1}), ("invert", {})]
    assert doc.dirty and doc.replayable()
    doc.set_current(s3)
    assert not doc.replayable()
    doc.set_current(doc.base_id)
    assert not doc.dirty and doc.recipe_steps() == []
    doc.retain_only({s1})
    assert s2 not in doc.store and s1 in doc.store
    doc.close()


def test_document_uses_the_store_it_is_given_even_when_empty(tmp_path):
    store = HistoryStore(budget_bytes=1234, spill_dir=tmp_path)
    assert len(store) == 0  # falsy: a plain ``store or default`` would drop it
    doc = Document(_state(0), store=store)
    assert doc.store is store
    doc.close()
