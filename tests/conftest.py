import threading
import time

import pytest


class FakeComm:
    """Records what the kernel side sends; lets a test act as the frontend."""

    _ids = 0

    def __init__(self, target_name="", data=None, comm_id=None, **kwargs):
        FakeComm._ids += 1
        self.comm_id = comm_id or f"comm-{FakeComm._ids}"
        self.target_name = target_name
        self.open_data = data
        self.sent = []
        self.closed = False
        self._on_msg = None
        self._on_close = None
        self._lock = threading.Lock()

    def send(self, data=None, **kwargs):
        with self._lock:
            self.sent.append(data)

    def close(self, data=None, **kwargs):
        self.closed = True

    def on_msg(self, cb):
        self._on_msg = cb

    def on_close(self, cb):
        self._on_close = cb

    # frontend side
    def frontend_send(self, data):
        self._on_msg({"content": {"comm_id": self.comm_id, "data": data}})

    def frontend_close(self):
        self.closed = True
        if self._on_close:
            self._on_close({"content": {"comm_id": self.comm_id, "data": {}}})

    def messages(self, type_=None):
        with self._lock:
            return [m for m in self.sent if type_ is None or m.get("type") == type_]


class FakeCommManager:
    def __init__(self):
        self.targets = {}
        self.created = []

    def register_target(self, name, f):
        self.targets[name] = f

    def unregister_target(self, name, f):
        return self.targets.pop(name)

    def create_comm(self, **kwargs):
        comm = FakeComm(**kwargs)
        self.created.append(comm)
        return comm

    def frontend_open(self, target, data):
        comm = FakeComm(target_name=target)
        self.targets[target](
            comm, {"content": {"comm_id": comm.comm_id, "target_name": target, "data": data}}
        )
        return comm


@pytest.fixture
def comm_manager():
    return FakeCommManager()


def wait_for(predicate, timeout=5.0, interval=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@pytest.fixture
def ip():
    """A real in-process IPython shell, with jaxinspect unloaded afterwards."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    yield shell
    if "jaxinspect" in shell.extension_manager.loaded:
        shell.run_line_magic("unload_ext", "jaxinspect")
    from jaxinspect.glue import extension

    extension.unload(shell)
