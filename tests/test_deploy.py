"""Deployment units: systemd accepts them as shipped (review item 16)."""
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNITS = sorted((ROOT / "deploy").glob("*.service"))


def test_the_web_and_scheduler_units_are_shipped():
    assert {u.name for u in UNITS} == {"helpline-web.service", "helpline-scheduler.service"}
    web = (ROOT / "deploy" / "helpline-web.service").read_text()
    # The whole process group is stopped (no orphan workers holding the port) and failures restart.
    assert "KillMode=mixed" in web and "Restart=on-failure" in web and "APP_CONFIG=production" in web
    assert "PROXY_FIX_HOPS=1" in (ROOT / "deploy" / "helpline.env.example").read_text()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_passes(tmp_path):
    """Verified with the install paths pointed at this checkout, where the executables exist."""
    env_file = tmp_path / "helpline.env"
    env_file.write_text("")
    for unit in UNITS:
        text = unit.read_text().replace("/opt/helpline", str(ROOT)).replace("/etc/helpline/helpline.env", str(env_file))
        (tmp_path / unit.name).write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", *[str(tmp_path / u.name) for u in UNITS]],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


def test_make_run_execs_gunicorn_so_signals_reach_it():
    """SIGTERM to `make run` used to leave gunicorn serving: the recipe's shell now becomes gunicorn."""
    recipe = (ROOT / "Makefile").read_text().split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "exec $(BIN)/gunicorn" in recipe
