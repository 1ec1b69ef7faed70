"""`pip install .` must carry the prebuilt labextension, so users need no Node."""

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "jaxinspect-0.1.0.data/data/share/jupyter/labextensions/jaxinspect/"


@pytest.mark.wheel
def test_wheel_carries_the_prebuilt_labextension(tmp_path):
    built = ROOT / "jaxinspect" / "labextension" / "package.json"
    assert built.exists(), "build the extension first (scripts/setup.sh does)"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = tmp_path.glob("jaxinspect-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert PREFIX + "package.json" in names
    assert PREFIX + "install.json" in names
    assert any(n.startswith(PREFIX + "static/remoteEntry.") for n in names), names
    pkg = json.loads(zipfile.ZipFile(wheel).read(PREFIX + "package.json"))
    assert pkg["name"] == "jaxinspect"
    assert "jaxinspect/__init__.py" in names
    assert "jaxinspect/glue/monitor_esm.js" in names  # the monitor widget's front end
    assert not any("node_modules" in n for n in names)


@pytest.mark.wheel
def test_labextension_is_listed_enabled_and_ok():
    jupyter = shutil.which("jupyter", path=str(Path(sys.executable).parent))
    assert jupyter, "jupyter is not installed next to this Python"
    out = subprocess.run(
        [jupyter, "labextension", "list"], capture_output=True, text=True, check=True
    )
    lines = [line for line in (out.stdout + out.stderr).splitlines() if "jaxinspect" in line]
    assert lines and "enabled" in lines[0] and "OK" in lines[0], out.stdout + out.stderr
