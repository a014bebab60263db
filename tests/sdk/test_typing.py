"""The SDK is typed for its users: py.typed ships with the package (PEP 561), and a user's code
type-checks against the public calls' answers, not Any."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
USER = '''
import numpy as np
import zoadamm

client = zoadamm.Client("http://127.0.0.1:8000")
session = client.sessions.create(3, x0=np.zeros(3))
info = client.sessions.ask(session.id)
told = client.sessions.tell(session.id, info.step, f_x=1.0, f_plus=[0.5])
reveal_type(session)
reveal_type(info)
reveal_type(told)
reveal_type(client.sessions.list())
lr: float = told.lr
'''


def test_the_package_ships_py_typed_and_the_calls_answer_their_models(tmp_path):
    assert (ROOT / "client" / "zoadamm" / "py.typed").exists()
    assert 'zoadamm = ["py.typed"]' in (ROOT / "client" / "pyproject.toml").read_text()
    (tmp_path / "user.py").write_text(USER)
    checked = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--ignore-missing-imports", "user.py"],
                             cwd=tmp_path, capture_output=True, text=True,
                             env={**os.environ, "MYPYPATH": str(ROOT / "client")})
    out = checked.stdout
    assert checked.returncode == 0, out
    for model in ("Session", "StepInfo", "TellResult", "list[zoadamm.sdk.models.SessionSummary]"):
        assert f'Revealed type is "{model if "." in model else "zoadamm.sdk.models." + model}"' in out, out


def test_a_type_checker_knows_the_session_settings_and_finds_a_misspelt_one(tmp_path):
    (tmp_path / "user.py").write_text('''
import zoadamm
from zoadamm.sdk import RemoteOptimizer

client = zoadamm.Client("http://127.0.0.1:8000")
client.sessions.create(3, lr=0.1, directions=4, constraint=zoadamm.Box(0.0, 1.0))
RemoteOptimizer.create(client, [0.0, 0.0], mu=0.01, seed=3)
zoadamm.minimize(lambda x: float(x[0] ** 2), [0.0], lr=0.1, method="zo-sgd")
client.sessions.create(3, lrr=0.1)
client.sessions.create(3, directions="four")
''')
    checked = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--ignore-missing-imports", "user.py"],
                             cwd=tmp_path, capture_output=True, text=True,
                             env={**os.environ, "MYPYPATH": str(ROOT / "client")})
    errors = [line for line in checked.stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors] == ["9", "10"], checked.stdout  # the last two lines only
    assert '"lrr"' in errors[0] and '"directions"' in errors[1], checked.stdout


def test_the_runs_guarded_against_two_threads_keep_their_signatures(tmp_path):
    """The guard against two driving threads (``one_driver``) had no annotations: SharedRun.tell,
    which it wraps, was Any to a type checker, and any call of it passed."""
    (tmp_path / "user.py").write_text('''
import numpy as np
import zoadamm
from zoadamm.sdk.shared import SharedRun

client = zoadamm.Client("http://127.0.0.1:8000")
worker = SharedRun(client, "0" * 32, np.zeros(3), lease=1)
reveal_type(worker.tell)
worker.tell("not work", 1, 2, 3, 4, 5)
''')
    checked = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--ignore-missing-imports", "user.py"],
                             cwd=tmp_path, capture_output=True, text=True,
                             env={**os.environ, "MYPYPATH": str(ROOT / "client")})
    assert 'Revealed type is "def (work: zoadamm.sdk.shared.Work, f_x: ' in checked.stdout, checked.stdout
    errors = [line for line in checked.stdout.splitlines() if ": error:" in line]
    assert errors and all(line.split(":")[1] == "9" for line in errors), checked.stdout
