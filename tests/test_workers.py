"""Worker lanes (latest wins, order, cancel, errors) and the display/preview jobs."""

import threading
import time

import cv2
import numpy as np
import pytest
from conftest import wait_until_idle

from editor.core.context import OpError
from editor.core.histogram import compute_histogram
from editor.ops import get_op, run_op
from editor.workers.lanes import Job, Lane, user_message
from editor.workers.render import ViewRequest, build_pyramid, preview, render_state, to_display


@pytest.fixture
def lanes(qtbot):
    made = []

    def make(latest_wins):
        lane = Lane("test", latest_wins)
        made.append(lane)
        return lane

    yield make
    for lane in made:
        lane.stop()


def _collect(lane):
    got = {"done": [], "failed": [], "cancelled": [], "progress": []}
    lane.jobDone.connect(lambda j, r: got["done"].append((j.title, r)))
    lane.jobFailed.connect(lambda j, m: got["failed"].append((j.title, m)))
    lane.jobCancelled.connect(lambda j: got["cancelled"].append(j.title))
    lane.jobProgress.connect(lambda j, f, m: got["progress"].append(f))
    return got


def _stepping(started: threading.Event, steps: list, count: int = 10**6):
    """A job of ``count`` 5 ms steps that honours Cancel before each; it logs every step."""
    def fn(ctx):
        started.set()
        for i in range(count):
            ctx.report(i / count)
            steps.append(i)
            time.sleep(0.005)
        return "finished"

    return fn


def test_latest_wins_drops_waiting_jobs_and_stops_the_running_one(qtbot, lanes):
    lane = lanes(True)
    got = _collect(lane)
    started = threading.Event()
    lane.submit(Job(_stepping(started, [], count=200), "a"))
    assert started.wait(2)
    lane.submit(Job(lambda ctx: "b", "b"))
    lane.submit(Job(lambda ctx: "c", "c"))
    wait_until_idle(qtbot, lane.busy, timeout=3000)
    assert got["done"] == [("c", "c")]
    assert set(got["cancelled"]) == {"a", "b"}


def test_apply_lane_runs_in_order_with_progress(qtbot, lanes):
    lane = lanes(False)
    got = _collect(lane)

    def work(ctx, n):
        for i in range(5):
            ctx.report(i / 4)
            time.sleep(0.05)
        return n

    for n in range(3):
        lane.submit(Job(lambda ctx, n=n: work(ctx, n), f"j{n}"))
    qtbot.waitUntil(lambda: len(got["done"]) == 3, timeout=5000)
    assert [r for _, r in got["done"]] == [0, 1, 2]
    assert got["progress"] and max(got["progress"]) == 1.0


def test_cancel_stops_the_running_job_at_its_next_check(qtbot, lanes):
    lane = lanes(False)
    got = _collect(lane)
    started, steps = threading.Event(), []
    lane.submit(Job(_stepping(started, steps), "long"))
    assert started.wait(2)
    lane.cancel_all()
    steps_at_cancel = len(steps)
    qtbot.waitUntil(lambda: bool(got["cancelled"]), timeout=2000)
    assert len(steps) - steps_at_cancel <= 1  # the step under way, then the check stops it
    assert got["cancelled"] == ["long"] and not got["done"] and not got["failed"]


def test_failure_becomes_one_sentence(qtbot, lanes):
    lane = lanes(False)
    got = _collect(lane)
    lane.submit(Job(lambda ctx: 1 / 0, "Divide"))
    lane.submit(Job(lambda ctx: (_ for _ in ()).throw(OpError("The kernel is empty")), "K"))
    qtbot.waitUntil(lambda: len(got["failed"]) == 2, timeout=3000)
    assert got["failed"][0] == ("Divide", "Divide failed: division by zero.")
    assert got["failed"][1] == ("K", "The kernel is empty.")
    assert "\n" not in user_message(RuntimeError("a\nb\nc"), "X")


def test_display_buffers_are_bgra_and_premultiplied(coffee):
    buf, alpha = to_display(coffee)
    assert buf.shape == coffee.shape[:2] + (4,) and not alpha
    np.testing.assert_array_equal(buf[..., 2::-1], coffee)  # B, G, R order
    assert (buf[..., 3] == 255).all()
    rgba = np.dstack([coffee, np.full(coffee.shape[:2], 128, np.uint8)])
    buf, alpha = to_display(rgba)
    assert alpha
    expected = (coffee.astype(np.float64) * 128 / 255)[..., ::-1]
    assert np.abs(buf[..., :3] - expected).max() <= 1  # premultiplied, rounded
    buf16, _ = to_display(coffee.astype(np.uint16) * 257)
    np.testing.assert_array_equal(buf16[..., 2::-1], coffee)  # v*257/257 exactly


def test_pyramid_levels_halve_down_to_the_minimum():
    levels = build_pyramid(np.zeros((3000, 4000, 4), np.uint8))
    assert [lv.shape[1] for lv in levels] == [4000, 2000, 1000]


def test_render_state_histogram_is_exact(chelsea):
    r = render_state(7, chelsea)
    assert r.state_id == 7 and (r.width, r.height) == (chelsea.shape[1], chelsea.shape[0])
    np.testing.assert_array_equal(r.histogram.counts["g"],
                                  np.bincount(chelsea[..., 1].ravel(), minlength=256))


def test_preview_fit_view_runs_on_a_viewport_sized_proxy(astronaut):
    from editor.core.context import OpContext

    spec = get_op("brightness")
    view = ViewRequest((0, 0, 512, 512), 0.5, (256, 256))
    res = preview(OpContext(), spec, {"amount": 0.2}, 1, astronaut, view)
    assert res.buffer.shape[:2] == (256, 256) and res.region == (0, 0, 512, 512)
    proxy = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    expected = run_op(spec, proxy, {"amount": 0.2})
    np.testing.assert_array_equal(res.buffer[..., 2::-1], expected)
    np.testing.assert_array_equal(res.histogram.counts["r"],
                                  compute_histogram(expected).counts["r"])


def test_preview_zoomed_in_covers_the_visible_crop_at_full_resolution(astronaut):
    from editor.core.context import OpContext

    spec = get_op("invert")
    view = ViewRequest((100, 100, 200, 180), 2.0, (200, 160))
    res = preview(OpContext(), spec, {}, 2, astronaut, view)
    x0, y0, x1, y1 = res.region
    assert x0 <= 100 and y0 <= 100 and x1 >= 200 and y1 >= 180
    np.testing.assert_array_equal(res.buffer[..., 2::-1], 255 - astronaut[y0:y1, x0:x1])
    # the histogram still describes the whole (inverted) picture, from a small proxy
    assert res.histogram.stats["l"].mean == pytest.approx(
        255 - compute_histogram(astronaut).stats["l"].mean, abs=2.0)
