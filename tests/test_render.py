import re

from jaxinspect.render import statuslib

ENV = {
    "kind": "env",
    "jax_version": "0.12.0.1",
    "jaxlib_version": "0.12.0.1",
    "flax_version": None,
    "python_version": "3.12.1",
    "backend": "cpu",
    "backend_initialized": True,
    "process_index": 0,
    "process_count": 1,
    "device_count": 40,
    "note": None,
    "devices": [
        {
            "id": i,
            "platform": "cpu",
            "device_kind": "cpu",
            "process_index": 0,
            "label": f"<dev{i}>&",
        }
        for i in range(40)
    ],
}
STATUS = {"events_total": 3, "events_by_kind": {"env": 1, "compile": 2}, "internal_errors": 0}
INFO = {"version": "0.1.0", "protocol": 1, "sidebars": 2, "sampler_running": True}


def test_status_text_twin():
    text = statuslib.status_text(ENV, STATUS, INFO)
    assert text.splitlines()[:7] == [
        "jaxinspect 0.1.0 (protocol v1)",
        "  jax      0.12.0.1",
        "  jaxlib   0.12.0.1",
        "  flax     not installed",
        "  python   3.12.1",
        "  backend  cpu · 40 device(s) · process 0 of 1",
        "devices (40):",
    ]
    # bounded: 32 rows then an explicit marker
    assert re.search(r"^  31 +cpu +cpu +0 +<dev31>&$", text, re.M)
    assert "<dev32>" not in text
    assert "  … 8 more" in text
    assert "  events recorded: 3 (compile: 2, env: 1)" in text
    assert "  sidebar connections: 2" in text


def test_status_html_escapes_device_labels_and_is_bounded():
    html = statuslib.status_html(ENV, STATUS, INFO)
    assert "&lt;dev0&gt;&amp;" in html
    assert "<dev0>" not in html
    assert "… 8 more" in html
    assert "<script" not in html
    assert "<details open><summary>devices (40)</summary>" in html


def test_backend_not_started_shows_the_note():
    env = {
        **ENV,
        "backend_initialized": False,
        "backend": None,
        "devices": [],
        "device_count": 0,
        "note": "JAX has not started a backend yet",
    }
    text = statuslib.status_text(env, STATUS, INFO)
    assert "  backend  not started" in text
    assert "  note     JAX has not started a backend yet" in text
    assert "devices:" not in text
