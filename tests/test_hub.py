import threading
import time

from conftest import wait_for

from jaxinspect import errors
from jaxinspect.live.hub import Hub


def rec(kind, i):
    return {"kind": kind, "i": i}


def test_ring_buffers_are_bounded_per_kind():
    hub = Hub(capacity=5)
    for i in range(20):
        hub.publish(rec("a", i))
    hub.publish(rec("b", 0))
    assert [r["i"] for r in hub.recent("a")] == [15, 16, 17, 18, 19]
    assert hub.latest("b") == rec("b", 0)
    assert hub.counts() == {"a": 20, "b": 1}
    hub.close()


def test_tight_loop_is_coalesced_to_at_most_10_pushes_per_second_and_keeps_the_last():
    hub = Hub(max_rate=10.0)
    batches = []
    hub.subscribe(batches.append)
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < 1.5:
        hub.publish(rec("status", n))
        n += 1
    elapsed = time.monotonic() - start
    last = n - 1
    assert wait_for(lambda: batches and batches[-1]["records"][-1]["i"] == last)
    hub.close()
    assert n > 1000  # really a tight loop
    # rate: <= 10/s plus the leading push
    assert len(batches) <= elapsed * 10 + 2, len(batches)
    assert len(batches) >= 5  # and it did push while publishing, not only at the end
    # in order, no duplicates, and every record is either delivered or counted as dropped
    got = [r["i"] for b in batches for r in b["records"]]
    assert got == sorted(set(got))
    dropped = sum(b["dropped"].get("status", 0) for b in batches)
    assert len(got) + dropped == n
    assert [b["seq"] for b in batches] == list(range(1, len(batches) + 1))


def test_publish_from_many_threads():
    hub = Hub()
    batches = []
    hub.subscribe(batches.append)

    def worker(k):
        for i in range(500):
            hub.publish(rec(f"t{k}", i))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = lambda: sum(len(b["records"]) for b in batches)  # noqa: E731
    assert wait_for(lambda: total() == 2000)
    hub.close()


def test_overflowing_pending_queue_reports_dropped_counts():
    hub = Hub(max_rate=1.0, max_pending=10)
    batches = []
    hub.subscribe(batches.append)
    hub.publish(rec("x", -1))  # first push goes out at once
    assert wait_for(lambda: len(batches) == 1)
    for i in range(25):
        hub.publish(rec("x", i))
    assert wait_for(lambda: len(batches) == 2, timeout=3)
    hub.close()
    assert [r["i"] for r in batches[1]["records"]] == list(range(15, 25))
    assert batches[1]["dropped"] == {"x": 15}


def test_failing_subscriber_is_contained_and_others_still_get_data():
    errors.reset()
    hub = Hub()
    good = []

    def bad(batch):
        raise RuntimeError("boom")

    hub.subscribe(bad)
    hub.subscribe(good.append)
    hub.publish(rec("a", 1))
    assert wait_for(lambda: good)
    hub.close()
    assert errors.total() >= 1
    assert any("boom" in r.message for r in errors.recent())
    errors.reset()


def test_no_subscriber_means_no_thread_and_no_pending_growth():
    before = {t.name for t in threading.enumerate()}
    hub = Hub()
    for i in range(100):
        hub.publish(rec("a", i))
    assert "jaxinspect-hub" not in {t.name for t in threading.enumerate()} - before
    assert len(hub._pending) == 0
    token = hub.subscribe(lambda b: None)
    assert "jaxinspect-hub" in {t.name for t in threading.enumerate()}
    hub.unsubscribe(token)
    hub.close()
    assert wait_for(lambda: "jaxinspect-hub" not in {t.name for t in threading.enumerate()})
