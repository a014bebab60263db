"""Every command with a bad value of each option, and with options that disagree: one line that
names the option (or the environment variable) and the reason, exit status 1, nothing run.

The commands the issue names run as processes; the whole table runs each command's ``main`` in
this process (the same code, without a process start per row).  ``--service`` points at a port
where nothing listens, so a check that did not fire shows up as "cannot reach" instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import one_line, run

from zoadamm import Client
from zoadamm.sdk import UnprocessableEntityError
from zoadamm_service import cli as service_cli
from zoadamm_service.launch import local_service
from zoadamm_worker import cli as worker_cli
from zoadamm_worker import demo
from zoadamm_worker.experiments import cli as experiments_cli

NOWHERE = "http://127.0.0.1:9"
REST = ["rest", "--objective", f"{NOWHERE}/f", "--service", NOWHERE]
MNIST = ["mnist", "--service", NOWHERE]
VICTIM_MODEL = Path(__file__).parents[2] / "results" / "attack" / "victim.pt"
MAINS = {"zoadamm-worker": worker_cli.main, "zoadamm-demo": demo.main,
         "zoadamm-experiments": experiments_cli.main, "zoadamm-service": service_cli.main}

# (command, arguments, environment, what the line must say)
REFUSED = [
    # values an option does not take
    ("zoadamm-worker", [*REST, "--dim", "3", "--lr", "-1"], {}, "argument --lr: expected a number > 0, got '-1'"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--mu", "nan"], {}, "argument --mu: expected a number > 0, got 'nan'"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--directions", "0"], {}, "argument --directions: expected an integer"),
    ("zoadamm-worker", [*REST, "--dim", "0"], {}, "argument --dim: expected an integer > 0, got '0'"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--steps", "0"], {}, "argument --steps: expected an integer > 0"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--seed", "-1"], {}, "argument --seed: expected an integer >= 0"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--timeout", "0"], {}, "argument --timeout: expected a number > 0"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--retries", "-1"], {}, "argument --retries: expected an integer >= 0"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--report-every", "0"], {}, "argument --report-every: expected an"),
    ("zoadamm-worker", [*REST, "--x0", "nope"], {}, "argument --x0: not JSON"),
    ("zoadamm-worker", [*REST, "--x0", "[1, true]"], {}, "argument --x0: expected a non-empty JSON list of finite"),
    ("zoadamm-worker", [*REST, "--x0", "[1e400]"], {}, "argument --x0: expected a non-empty JSON list of finite"),
    ("zoadamm-worker", [*REST, "--x0", "[]"], {}, "argument --x0: expected a non-empty JSON list of finite"),
    ("zoadamm-worker", ["rest", "--objective", "localhost:9000", "--dim", "3"], {},
     "argument --objective: expected an http:// or https:// URL, got 'localhost:9000'"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--service", "127.0.0.1:8000"], {}, "argument --service: expected an"),
    ("zoadamm-worker", ["rest", "--objective", f"{NOWHERE}/f", "--dim", "3"], {"ZOADAMM_SERVICE_URL": "nope"},
     "ZOADAMM_SERVICE_URL='nope' (the default of --service): expected an http:// or https:// URL"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--method", "adamm"], {}, "argument --method: invalid choice: 'adamm'"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--lower", "nan"], {},
     "argument --lower: expected a number (inf or -inf for none) or a JSON list of them, got 'nan'"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--lower", "inf"], {},  # -inf is no lower bound; inf is none at all
     "--lower: constraint.box.lower contains NaN or infinite values"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--upper", "[1, -Infinity, 1]"], {},
     "--upper: constraint.box.upper contains NaN or infinite values"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--lower", "-1e39"], {},
     "--lower: constraint.box.lower is beyond float32's range"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--upper", "[1e999]"], {},  # an overflow is not an infinity
     "argument --upper: expected a number (inf or -inf for none) or a JSON list of them, got '[1e999]'"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--upper", "1e999"], {},
     "argument --upper: expected a number (inf or -inf for none) or a JSON list of them, got '1e999'"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--upper", "[1" + "0" * 400 + "]"], {},  # no float holds it
     "argument --upper: expected a number (inf or -inf for none) or a JSON list of them"),
    ("zoadamm-worker", [*REST, "--x0", "[1" + "0" * 400 + "]"], {},
     "argument --x0: expected a non-empty JSON list of finite numbers"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--lr", "-1e-3"], {}, "argument --lr: expected a number > 0, got '-1e-3'"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--lower", "-x"], {}, "argument --lower: expected one argument"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--ball", "0"], {}, "argument --ball: expected a number > 0, got '0'"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--ball", "1", "--ball-norm", "1"], {},
     "argument --ball-norm: invalid choice: '1'"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--box", "1", "0"], {},
     "--box: constraint.box.lower > constraint.box.upper (1.0 > 0.0)"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--lower", "[0, 0]", "--upper", "1"], {},
     "--lower, --upper: constraint.box.lower has 2 values, the session has dim 3"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--lower", "0.5"], {},
     "--lower: the start lies below constraint.box at 3 coordinates (by up to 0.5, at index 0); give --x0 inside"),
    ("zoadamm-worker", [*REST, "--dim", "2", "--ball", "1", "--ball-center", "[3, 4]"], {},
     "--ball: ||the start - center||_2 = 5 exceeds constraint.ball.radius 1 by 4"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--box", "0", "1", "--lower", "0"], {},
     "--lower: not with --box; give one of them"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--ball-center", "1"], {}, "--ball-center: only with --ball"),
    # written out with the default value, an option that does not apply is refused all the same
    ("zoadamm-worker", [*REST, "--dim", "3", "--ball-norm", "2"], {}, "--ball-norm: only with --ball"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--join", "0" * 32, "--lr=0.01"], {}, "--lr: not with --join"),
    ("zoadamm-worker", [*MNIST, "--method", "adamm", "--directions", "1"], {},
     "--directions: only for the zo-* methods"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--join", "0" * 32, "--box", "0", "1", "--method", "zo-sgd"], {},
     "--method, --box: not with --join"),
    ("zoadamm-worker", [*MNIST, "--scale", "0"], {}, "argument --scale: expected a number > 0, got '0'"),
    ("zoadamm-worker", [*MNIST, "--epochs", "0"], {}, "argument --epochs: expected an integer > 0, got '0'"),
    ("zoadamm-worker", [*MNIST, "--steps", "-2"], {}, "argument --steps: expected an integer > 0"),
    ("zoadamm-worker", [*MNIST, "--batch-size", "0"], {}, "argument --batch-size: expected an integer > 0"),
    ("zoadamm-worker", [*MNIST, "--train-limit", "0"], {}, "argument --train-limit: expected an integer > 0"),
    # more than MNIST has trained all 60,000, under a run name and records that said 70,000
    ("zoadamm-worker", [*MNIST, "--train-limit", "70000"], {},
     "argument --train-limit: MNIST has 60,000 training images: give at most that"),
    ("zoadamm-worker", MNIST, {"ZOADAMM_TRAIN_LIMIT": "60001"}, "MNIST has 60,000 training images"),
    ("zoadamm-demo", ["--train-limit", "60001"], {}, "argument --train-limit: MNIST has 60,000 training images"),
    ("zoadamm-experiments", ["run", "--train-limit", "99999"], {}, "argument --train-limit: MNIST has 60,000"),
    ("zoadamm-worker", [*MNIST, "--threads", "-1"], {}, "argument --threads: expected an integer >= 0, got '-1'"),
    ("zoadamm-worker", [*MNIST, "--threads", "1.5"], {}, "argument --threads: expected an integer >= 0, got '1.5'"),
    ("zoadamm-worker", [*MNIST, "--lr", "inf"], {}, "argument --lr: expected a number > 0, got 'inf'"),
    ("zoadamm-worker", [*MNIST, "--session-seed", "abc"], {}, "argument --session-seed: expected an integer >= 0"),
    ("zoadamm-worker", [*MNIST, "--data-source", "web"], {}, "argument --data-source: invalid choice: 'web'"),
    ("zoadamm-worker", [*MNIST, "--lease", "0"], {}, "argument --lease: expected an integer > 0"),
    ("zoadamm-worker", MNIST, {"ZOADAMM_TRAIN_LIMIT": "abc"},
     "ZOADAMM_TRAIN_LIMIT='abc' (the default of --train-limit): expected an integer > 0"),
    ("zoadamm-worker", [*MNIST, "--dir", "4"], {}, "unrecognized arguments: --dir 4"),  # no abbreviations
    # the subcommand's own words, and the option a misspelt one was likely meant to be
    ("zoadamm-worker", [*REST, "--dim", "3", "--servce", "x"], {},
     "zoadamm-worker rest: unrecognized arguments: --servce x (did you mean --service?) "
     "(see zoadamm-worker rest --help)"),
    ("zoadamm-worker", [*MNIST, "--epoch", "1", "--bogus"], {},
     "zoadamm-worker mnist: unrecognized arguments: --epoch 1 --bogus (did you mean --epochs?)"),
    ("zoadamm-experiments", ["run", "--dry-run", "--qs", "2"], {},
     "zoadamm-experiments run: unrecognized arguments: --qs 2 (did you mean --q?)"),
    ("zoadamm-service", ["--prot", "3"], {},
     "zoadamm-service: unrecognized arguments: --prot 3 (did you mean --port?)"),
    # an empty path read as none given (the demo trained in full) or as the current folder
    ("zoadamm-demo", ["--report", ""], {}, "zoadamm-demo: argument --report: expected a path, got ''"),
    ("zoadamm-demo", ["--out", ""], {}, "zoadamm-demo: argument --out: expected a path, got ''"),
    ("zoadamm-worker", [*MNIST, "--record", ""], {}, "argument --record: expected a path, got ''"),
    ("zoadamm-worker", ["attack", "--records", ""], {}, "argument --records: expected a path, got ''"),
    # values that failed deep in torch or numpy, in a traceback
    ("zoadamm-worker", [*MNIST, "--seed", "99999999999999999999"], {},
     "argument --seed: expected an integer from 0 to 2^53 - 1 = 9,007,199,254,740,991"),
    ("zoadamm-demo", ["--seed", str(2**53)], {}, "argument --seed: expected an integer from 0 to 2^53 - 1"),
    ("zoadamm-worker", [*REST, "--dim", "99999999999"], {},
     "argument --dim: d = 99,999,999,999 is over ZOADAMM_MAX_DIM = 8,388,608"),
    # a q the service refuses, said before a grid trains its FO run (or a worker loads MNIST)
    ("zoadamm-experiments", ["run", "--dry-run", "--q", "1", "99999"], {},
     "argument --q: q = 99,999 is over ZOADAMM_MAX_DIRECTIONS = 1,024, the largest q the service takes"),
    ("zoadamm-worker", [*MNIST, "--directions", "64"], {"ZOADAMM_MAX_DIRECTIONS": "32"},
     "argument --directions: q = 64 is over ZOADAMM_MAX_DIRECTIONS = 32"),
    # a model the service would refuse, which at this scale could not even be built to send it
    ("zoadamm-worker", [*MNIST, "--scale", "1e9"], {},
     "argument --scale: s = 1e9 makes d = 41,578,320,003,810,682, over ZOADAMM_MAX_DIM = 8,388,608"),
    ("zoadamm-worker", [*MNIST, "--scale", "12.333333"], {"ZOADAMM_MAX_DIM": "100000"},
     "argument --scale: s = 12.333333 makes d = 169,196, over ZOADAMM_MAX_DIM = 100,000"),
    ("zoadamm-worker", [*MNIST, "--scale", "1"], {"ZOADAMM_MAX_DIM": "abc"},
     "argument --scale: ZOADAMM_MAX_DIM='abc' is not an integer"),
    ("zoadamm-worker", [], {}, "the following arguments are required: COMMAND"),
    # an empty name was taken for none (the run named by default); an id the service cannot have
    ("zoadamm-worker", [*MNIST, "--name", ""], {}, "argument --name: expected a name of 1 to 200 characters"),
    ("zoadamm-worker", [*MNIST, "--name", " run"], {}, "without space at either end, got ' run'"),
    ("zoadamm-worker", [*MNIST, "--join", "zzz"], {}, "argument --join: expected a session id, 32 lowercase hex"),
    # said before "victim: ... at URL" claims it serves there; uvicorn had logged it and exited 3
    ("zoadamm-worker", ["victim", "--model", str(VICTIM_MODEL), "--port", "6379"], {},
     "zoadamm-worker victim: port 6379 on 127.0.0.1 is in use"),
    ("zoadamm-demo", ["--scale", "-1"], {}, "argument --scale: expected a number > 0, got '-1'"),
    ("zoadamm-demo", ["--scale", "345"], {}, "argument --scale: s = 345 makes d = 11,553,005, over ZOADAMM_MAX_DIM"),
    ("zoadamm-demo", ["--epochs", "0"], {}, "argument --epochs: expected an integer > 0, got '0'"),
    ("zoadamm-demo", ["--directions", "0"], {}, "argument --directions: expected an integer"),
    ("zoadamm-demo", ["--seed", "x"], {}, "argument --seed: expected an integer >= 0, got 'x'"),
    ("zoadamm-demo", ["--train-limit", "0"], {}, "argument --train-limit: expected an integer > 0"),
    ("zoadamm-demo", ["--service", "nowhere"], {}, "argument --service: expected an http:// or https:// URL"),
    ("zoadamm-experiments", ["run", "--epochs", "0"], {}, "argument --epochs: expected an integer > 0"),
    ("zoadamm-experiments", ["run", "--seeds", "0", "-1"], {}, "argument --seeds: expected an integer >= 0"),
    ("zoadamm-experiments", ["run", "--scales", "0"], {}, "argument --scales: expected a number > 0"),
    ("zoadamm-experiments", ["run", "--scales", "1", "1e9"], {}, "argument --scales: s = 1e9 makes d = "),
    ("zoadamm-experiments", ["run", "--q", "0"], {}, "argument --q: expected an integer > 0"),
    ("zoadamm-experiments", ["run", "--train-limit", "0"], {}, "argument --train-limit: expected an integer > 0"),
    ("zoadamm-experiments", ["run", "--stop-after-runs", "0"], {}, "argument --stop-after-runs: expected an"),
    ("zoadamm-experiments", ["run", "--preset", "big"], {}, "argument --preset: invalid choice: 'big'"),
    ("zoadamm-experiments", ["run", "--service", "x"], {}, "argument --service: expected an http:// or https://"),
    ("zoadamm-experiments", ["analyze"], {}, "the following arguments are required: results"),
    ("zoadamm-experiments", ["analyze", "results/paper", "--tsne-seed", "-1"], {}, "argument --tsne-seed"),
    ("zoadamm-service", ["--port", "0"], {}, "argument --port: expected an integer >= 1, got '0'"),
    ("zoadamm-service", ["--port", "99999"], {}, "argument --port: expected a TCP port, 1 to 65535, got '99999'"),
    ("zoadamm-service", ["--workers", "0"], {}, "argument --workers: expected an integer > 0, got '0'"),
    ("zoadamm-service", ["--log-level", "loud"], {}, "argument --log-level: invalid choice: 'loud'"),
    ("zoadamm-service", [], {"ZOADAMM_MAX_DIM": "abc"},
     "ZOADAMM_MAX_DIM='abc': Input should be a valid integer"),
    ("zoadamm-service", [], {"ZOADAMM_TRACE_POINTS": "99999"},
     "ZOADAMM_TRACE_POINTS='99999': Input should be less than or equal to 4096"),
    ("zoadamm-service", [], {"REDIS_URL": "localhost:6379"}, "REDIS_URL='localhost:6379' is not a Redis URL"),
    ("zoadamm-service", [], {"REDIS_URL": "redis://127.0.0.1:abc"},
     "REDIS_URL='redis://127.0.0.1:abc' is not a Redis URL: Port could not be cast to integer value as 'abc'"),
    ("zoadamm-service", [], {"REDIS_URL": "redis://[::1:6379/0"},
     "REDIS_URL='redis://[::1:6379/0' is not a Redis URL: "),
    # the password is not repeated, in the user part or as a parameter (the line goes to every restart's log)
    ("zoadamm-service", [], {"REDIS_URL": "redis://:s3cret@127.0.0.1:port/0?password=s3cret"},
     "REDIS_URL='redis://:***@127.0.0.1:port/0?password=***' is not a Redis URL: Port could not be cast"),
    ("zoadamm-service", [], {"REDIS_URL": "redis://127.0.0.1:6379/x"},
     "REDIS_URL='redis://127.0.0.1:6379/x' is not a Redis URL: the database 'x' is not a number"),
    ("zoadamm-service", [], {"REDIS_URL": "redis://127.0.0.1:6379/1", "ZOADAMM_REDIS_CLUSTER": "true"},
     "REDIS_URL='redis://127.0.0.1:6379/1' names a database other than 0, which a Redis Cluster does not have"),
    ("zoadamm-service", [], {"ZOADAMM_RATE_LIMIT": "fast"}, "ZOADAMM_RATE_LIMIT='fast' is not a rate"),
    # NaN was told of the bound it failed ("less than or equal to 3600"), inf taken; the cluster ignored
    ("zoadamm-service", [], {"ZOADAMM_LEASE_SECONDS": "nan"}, "ZOADAMM_LEASE_SECONDS='nan': Input should be a finite"),
    ("zoadamm-service", [], {"ZOADAMM_QUEUE_TIMEOUT_S": "inf"}, "ZOADAMM_QUEUE_TIMEOUT_S='inf': Input should be a "),
    ("zoadamm-service", [], {"ZOADAMM_REDIS_CLUSTER": "true"}, "ZOADAMM_REDIS_CLUSTER='true': Value error, a Redis "
     "Cluster is reached through REDIS_URL, a node of it, and REDIS_URL is not set"),
    ("zoadamm-service", ["--port", "6379"], {}, "port 6379 on 127.0.0.1 is in use"),  # the tests' Redis is there
    # an address it cannot listen on, before the keys' check (which would call it exposed)
    ("zoadamm-service", ["--host", "nonexistent.invalid"], {}, "--host nonexistent.invalid: cannot listen there"),
    ("zoadamm-service", ["--host", "192.0.2.1"], {"ZOADAMM_ALLOW_OPEN": "true"},
     "--host 192.0.2.1: cannot listen there (Cannot assign requested address)"),
    ("zoadamm-service", ["keys", "new", "a b"], {}, "tenant names are 1-64 of"),
    ("zoadamm-service", ["keys"], {}, "the following arguments are required: COMMAND"),
    # options that disagree
    ("zoadamm-worker", [*REST, "--dim", "10", "--x0", "[0, 0]"], {},
     "--x0 has 2 values but --dim is 10: give one of them, or make them agree"),
    ("zoadamm-worker", REST, {}, "give --dim (the start is then d zeros) or --x0"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--lease", "2"], {}, "--lease: only with --join"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--join", "0" * 32, "--lr", "0.1", "--seed", "3"], {},
     "--lr, --seed: not with --join, which follows the joined session's own settings and step"),
    ("zoadamm-worker", [*REST, "--dim", "3", "--join", "0" * 32, "--resume"], {}, "--resume: not with --join"),
    ("zoadamm-worker", [*REST, "--join", "0" * 32, "--x0", "[1, 1, 1]"], {},
     "--x0: not with --join, which follows the joined session's own settings and step"),
    ("zoadamm-worker", [*MNIST, "--method", "adamm", "--directions", "4"], {},
     "--directions: only for the zo-* methods (the FO worker, adamm, sends exact gradients)"),
    ("zoadamm-worker", [*MNIST, "--method", "adamm", "--mu", "0.01", "--distribution", "gaussian"], {},
     "--distribution, --mu: only for the zo-* methods"),
    ("zoadamm-worker", [*MNIST, "--join", "0" * 32, "--method", "adamm"], {}, "--method: not with --join"),
    ("zoadamm-worker", [*MNIST, "--join", "0" * 32, "--directions", "8", "--save-weights"], {},
     "--directions, --save-weights: not with --join"),
    ("zoadamm-worker", [*MNIST, "--lease", "2"], {}, "--lease: only with --join"),
    ("zoadamm-worker", [*MNIST, "--record", "a.jsonl", "--record-dir", "runs"], {},
     "--record-dir: not with --record; give one of them"),
    ("zoadamm-demo", ["--report", "runs", "--epochs", "2", "--hold"], {},
     "--epochs, --hold: not with --report, which trains nothing"),
    ("zoadamm-demo", ["--service", NOWHERE, "--hold"], {},
     "--hold: only without --service: it keeps up the service the demo starts"),
    ("zoadamm-experiments", ["run", "--dry-run", "--service", NOWHERE], {},
     "--service: not with --dry-run, which trains nothing"),
    ("zoadamm-service", ["--workers", "2"], {}, "--workers > 1 needs REDIS_URL"),
    ("zoadamm-service", ["--host", "0.0.0.0"], {}, "refusing to serve 0.0.0.0 without API keys"),
    ("zoadamm-service", [], {"ZOADAMM_RATE_LIMIT": "abc"}, "ZOADAMM_RATE_LIMIT='abc' is not a rate such as"),
    ("zoadamm-service", [], {"ZOADAMM_AUTH_FAIL_LIMIT": " "}, "ZOADAMM_AUTH_FAIL_LIMIT=' ' is not a rate such as"),
    ("zoadamm-service", [], {"PROMETHEUS_MULTIPROC_DIR": "/etc/passwd/metrics"},
     "PROMETHEUS_MULTIPROC_DIR=/etc/passwd/metrics: a file stands where that folder goes"),
]


def _clean(monkeypatch) -> None:
    for name in ("ZOADAMM_SERVICE_URL", "ZOADAMM_TRAIN_LIMIT", "REDIS_URL", "ZOADAMM_API_KEYS", "ZOADAMM_ALLOW_OPEN",
                 "ZOADAMM_MAX_DIM", "ZOADAMM_RATE_LIMIT", "ZOADAMM_AUTH_FAIL_LIMIT", "PROMETHEUS_MULTIPROC_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("command", "argv", "env", "says"), REFUSED,
                         ids=[f"{c} {' '.join(a[:1] + a[-2:])} {' '.join(e)}" for c, a, e, _ in REFUSED])
def test_a_bad_command_line_is_one_line_and_status_1(command, argv, env, says, monkeypatch, capsys):
    _clean(monkeypatch)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        status = MAINS[command](list(argv))
    except SystemExit as exit_:
        status = exit_.code
    line = one_line((status, capsys.readouterr().err))
    assert line.startswith(f"{command}") and says in line


@pytest.mark.parametrize(("argv", "env", "says"), [
    (["zoadamm-worker", "rest", "--objective", f"{NOWHERE}/f", "--dim", "10", "--x0", "[0,0]"], {},
     "zoadamm-worker rest: --x0 has 2 values but --dim is 10"),
    (["zoadamm-worker", *REST, "--dim", "3", "--lr", "-1"], {}, "argument --lr: expected a number > 0"),
    (["zoadamm-worker", *REST, "--dim", "3", "--directions", "0"], {}, "argument --directions: expected an integer"),
    (["zoadamm-worker", *REST, "--dim", "3", "--mu", "0"], {}, "argument --mu: expected a number > 0"),
    (["zoadamm-worker", "mnist", "--scale", "0"], {}, "zoadamm-worker mnist: argument --scale: expected a number > 0"),
    (["zoadamm-worker", "mnist", "--scale", "1e9"], {}, "zoadamm-worker mnist: argument --scale: s = 1e9 makes d = "),
    (["zoadamm-service"], {"ZOADAMM_MAX_DIM": "abc"}, "zoadamm-service: ZOADAMM_MAX_DIM='abc': Input should be"),
    (["zoadamm-demo", "--epochs", "0"], {}, "zoadamm-demo: argument --epochs"),
    (["zoadamm-experiments", "run", "--q", "0"], {}, "zoadamm-experiments run: argument --q"),
    (["zoadamm-service", "keys", "new", "a:b"], {}, "zoadamm-service keys: tenant names"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_the_commands_themselves_refuse_in_one_line(argv, env, says):
    assert says in one_line(run(*argv, env=env))


def test_a_larger_model_is_taken_where_zoadamm_max_dim_is_raised(monkeypatch):
    """As the service takes it with the same setting (the demo's and the grid's own service read it)."""
    monkeypatch.setenv("ZOADAMM_MAX_DIM", "11553005")
    assert worker_cli.build_parser().parse_args(["mnist", "--scale", "345"]).scale == 345
    assert demo.build_parser().parse_args(["--scale", "345"]).scale == 345


@pytest.fixture(scope="module")
def service_url():
    with local_service() as url:
        yield url


def test_a_setting_the_service_refuses_is_the_sdk_s_message(service_url):
    """Limits only the service knows (here q x d beyond ZOADAMM_MAX_WORK) come back as a 422;
    the line is the SDK's message for it, which names the field and the reason."""
    with Client(service_url) as client, pytest.raises(UnprocessableEntityError) as refused:
        client.sessions.create(1_000_000, directions=1000)
    line = one_line(run("zoadamm-worker", "rest", "--objective", f"{NOWHERE}/f", "--dim", "1000000", "--directions",
                        "1000", "--service", service_url))
    assert line.startswith(f"zoadamm-worker: the service at {service_url} refused the request: ")
    assert str(refused.value) in line and "directions" in line


@pytest.mark.parametrize(("argv", "says"), [
    (["zoadamm-worker", "mnist", "--join", "0" * 32], "has no session 00000000000000000000000000000000: --join takes"),
    (["zoadamm-worker", "rest", "--objective", f"{NOWHERE}/f", "--dim", "2", "--join", "f" * 32],
     f"has no session {'f' * 32}"),
    (["zoadamm-worker", "mnist", "--data-source", "idx", "--data-dir", "/nonexistent", "--steps", "1"],
     "/nonexistent lacks some of the IDX files"),
    (["zoadamm-worker", "mnist", "--train-limit", "256", "--steps", "1", "--record", "/proc/no/such.jsonl"],
     "--record: No such file or directory: /proc/no"),
    # two paths in one folder: the line says which option failed
    (["zoadamm-worker", "mnist", "--train-limit", "256", "--steps", "1", "--save", "/proc/no/m.pt"],
     "--save: No such file or directory: /proc/no"),
], ids=["join mnist", "join rest", "idx files", "record", "save"])
def test_failures_found_while_running_are_one_line(service_url, argv, says):
    line = one_line(run(*argv, "--service", service_url))
    assert line.startswith("zoadamm-worker: ") and says in line and line.endswith("(--debug shows the traceback)")


def test_what_the_records_lack_is_one_line(tmp_path):
    line = one_line(run("zoadamm-demo", "--report", str(tmp_path)))
    assert line.startswith(f"zoadamm-demo: {tmp_path} holds no pair of FO and ZO record files (*.jsonl) of the same d")
    line = one_line(run("zoadamm-demo", "--report", str(tmp_path / "no-such-run")))
    assert line.startswith(f"zoadamm-demo: {tmp_path / 'no-such-run'} is not a folder")
    line = one_line(run("zoadamm-experiments", "analyze", str(tmp_path), "--out", str(tmp_path / "out")))
    assert f"no run records with a finished epoch in {tmp_path}" in line
