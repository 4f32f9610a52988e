"""The command line of the real `mlsidecar` binary (MLSIDECAR_BIN): the same habits for every
subcommand, from one flag table (sidecar/cli/flags.h). Help on stdout with exit 0; a usage error
is one line on stderr with exit 2; booleans work bare; durations accept 500ms, 5s, 5m and plain
seconds; -f repeats and reads directories as kubectl does; `mlsidecar` alone serves."""
import os
import pathlib
import signal
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "support"))
from procs import Process, free_port, sidecar_binary  # noqa: E402

GOLDEN = HERE / "inject" / "golden"
SUBCOMMANDS = ["serve", "profile", "simulate", "inject", "uninject", "webhook"]


def run(*args, stdin=None, env=None):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MLSIDECAR_")}
    clean.update(env or {})
    return subprocess.run([sidecar_binary(), *args], input=stdin, capture_output=True, text=True,
                          timeout=60, env=clean)


def usage_error(result, *needles):
    """Exit 2, nothing on stdout, exactly one line on stderr containing every needle."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n"), result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def sidecar_args(result):
    """The sidecar container's args in the output of `inject`."""
    import yaml
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    spec = docs[0]["spec"]["template"]["spec"] if "template" in docs[0]["spec"] else docs[0]["spec"]
    for c in spec.get("initContainers", []) + spec["containers"]:
        if c["name"] == "mlsidecar":
            return c["args"], spec
    raise AssertionError("no sidecar")


def test_no_arguments_serves_with_the_environment():
    """`mlsidecar` alone is `mlsidecar serve`, configured by MLSIDECAR_* (it once exited 1 with
    "cannot create std::vector larger than max_size()")."""
    admin, listen = free_port(), free_port()
    env = dict(os.environ, MLSIDECAR_LISTEN="127.0.0.1:%d" % listen,
               MLSIDECAR_ADMIN="127.0.0.1:%d" % admin, MLSIDECAR_UPSTREAM="127.0.0.1:%d" % free_port(),
               MLSIDECAR_THREADS="1")
    proc = Process([sidecar_binary()], env=env)
    try:
        proc.wait_url("http://127.0.0.1:%d/healthz" % admin)
    finally:
        assert proc.stop(signal.SIGTERM) == 0


@pytest.mark.parametrize("command", SUBCOMMANDS)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_is_on_stdout_and_exits_0(command, flag):
    result = run(command, flag)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith("usage: mlsidecar")
    assert "--help" in result.stdout


def test_top_level_help_is_serves():
    assert run("--help").stdout == run("serve", "--help").stdout


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_unknown_flag_is_one_line_exit_2(command):
    usage_error(run(command, "--no-such-flag", "1"), "unknown flag --no-such-flag")


@pytest.mark.parametrize("args,needles", [
    (["serve", "--threads", "many"], ["--threads 'many'", "whole number"]),
    (["serve", "--model"], ["--model needs a value"]),
    (["serve", "--drift-format", "xml"], ["--drift-format 'xml'"]),
    (["serve", "--merge-metrics", "https://model:8000/metrics"], ["--merge-metrics"]),
    (["serve", "stray"], ["unexpected argument 'stray'"]),
    (["profile"], ["--input is required"]),
    (["profile", "--input", "x.csv", "--bins", "zero"], ["--bins"]),
    (["simulate", "--duration", "5 minutes"], ["--duration", "duration"]),
    (["simulate", "--arrivals", "bursty"], ["--arrivals 'bursty'", "poisson"]),
    (["inject"], ["--filename is required"]),
    (["inject", "-f", "x.yaml", "--data-port", "http"], ["--data-port 'http'"]),
    (["inject", "-f", "x.yaml", "--native", "false"], ["unexpected argument 'false'"]),
    (["uninject", "-f"], ["--filename needs a value"]),
    (["webhook", "--tls-cert", "c.pem"], ["--tls-key is required"]),
    (["webhook", "--tls-cert", "c", "--tls-key", "k", "--cert-check-interval", "100ms"],
     ["--cert-check-interval"]),
    (["nonsense"], ["unknown command 'nonsense'"]),
])
def test_usage_errors_are_one_line_exit_2(args, needles):
    usage_error(run(*args), *needles)


def test_bad_environment_value_names_the_variable():
    usage_error(run("inject", "-f", "x.yaml", env={"MLSIDECAR_DRAIN_SECONDS": "soon"}),
                "MLSIDECAR_DRAIN_SECONDS", "--drain-seconds 'soon'")


@pytest.mark.parametrize("flag", ["version", "--version"])
def test_version(flag):
    result = run(flag)
    assert result.returncode == 0 and result.stdout.startswith("mlsidecar 0."), result


def test_bare_boolean_and_explicit_value():
    manifest = str(GOLDEN / "deployment.in.yaml")
    for args in (["--native"], ["--native=true"], []):
        result = run("inject", "-f", manifest, *args)
        assert result.returncode == 0, result.stderr
        _, spec = sidecar_args(result)
        assert [c["name"] for c in spec["initContainers"]] == ["mlsidecar-capture", "mlsidecar"]
    off = run("inject", "-f", manifest, "--native=false")
    assert off.returncode == 0, off.stderr
    _, spec = sidecar_args(off)
    assert spec["containers"][0]["name"] == "mlsidecar"
    assert [c["name"] for c in spec["initContainers"]] == ["mlsidecar-capture"]


@pytest.mark.parametrize("value,arg,grace", [
    ("7", "7", 42), ("7s", "7", 42), ("1500ms", "1500ms", 37), ("1m", "60", 95),
])
def test_inject_durations_take_units(value, arg, grace):
    """--drain-seconds is a duration, as for serve (both read MLSIDECAR_DRAIN_SECONDS); whole
    seconds are written as before, so re-injecting an older manifest changes nothing."""
    for result in (run("inject", "-f", str(GOLDEN / "deployment.in.yaml"), "--drain-seconds", value),
                   run("inject", "-f", str(GOLDEN / "deployment.in.yaml"),
                       env={"MLSIDECAR_DRAIN_SECONDS": value})):
        assert result.returncode == 0, result.stderr
        args, spec = sidecar_args(result)
        assert args[args.index("--drain-seconds") + 1] == arg
        # preStop 5 s + drain + shutdown 30 s, rounded up to whole seconds.
        assert spec["terminationGracePeriodSeconds"] == grace


def test_serve_reads_what_inject_writes():
    """Every duration inject writes is one serve accepts."""
    result = run("inject", "-f", str(GOLDEN / "deployment.in.yaml"), "--drain-seconds", "1500ms",
                 "--shutdown-timeout", "2m")
    args, _ = sidecar_args(result)
    drain = args[args.index("--drain-seconds") + 1]
    timeout = args[args.index("--shutdown-timeout") + 1]
    check = run("serve", "--drain-seconds", drain, "--shutdown-timeout", timeout,
                "--queue-depth", "1")  # refused after parsing, so nothing starts
    usage_error(check, "--queue-depth needs --container-concurrency")


def test_filename_repeats_and_reads_stdin():
    one, two = str(GOLDEN / "job.in.yaml"), str(GOLDEN / "deployment.in.yaml")
    both = run("inject", "-f", one, "--filename", two)
    assert both.returncode == 0, both.stderr
    first, second = run("inject", "-f", one).stdout, run("inject", "-f", two).stdout
    assert both.stdout == first + "---\n" + second
    piped = run("inject", "-f", "-", stdin=pathlib.Path(one).read_text())
    assert piped.stdout == first


def test_filename_directory_reads_manifests_in_name_order(tmp_path):
    (tmp_path / "b.yml").write_text((GOLDEN / "job.in.yaml").read_text())
    (tmp_path / "a.yaml").write_text((GOLDEN / "deployment.in.yaml").read_text())
    (tmp_path / "notes.txt").write_text("not a manifest")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.yaml").write_text((GOLDEN / "cronjob.in.yaml").read_text())
    result = run("inject", "-f", str(tmp_path))
    assert result.returncode == 0, result.stderr
    expected = run("inject", "-f", str(tmp_path / "a.yaml"), "-f", str(tmp_path / "b.yml"))
    assert result.stdout == expected.stdout
    assert "CronJob" not in result.stderr  # not recursive
    back = run("uninject", "-f", str(tmp_path))
    assert back.returncode == 0, back.stderr


def test_json_manifest_in_a_directory(tmp_path):
    import json
    import yaml
    doc = yaml.safe_load((GOLDEN / "job.in.yaml").read_text())
    (tmp_path / "job.json").write_text(json.dumps(doc))
    result = run("inject", "-f", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "mlsidecar" in result.stdout


@pytest.mark.parametrize("command", ["inject", "uninject"])
def test_empty_directory_or_empty_input_is_an_error(tmp_path, command):
    result = run(command, "-f", str(tmp_path))
    assert result.returncode == 1 and result.stdout == ""
    assert "no .yaml, .yml or .json file" in result.stderr and result.stderr.count("\n") == 1
    empty = run(command, "-f", "-", stdin="")
    assert empty.returncode == 1 and empty.stdout == ""
    assert "stdin: no manifest" in empty.stderr


def test_missing_file_is_exit_1_naming_it(tmp_path):
    result = run("inject", "-f", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1 and "nope.yaml" in result.stderr and result.stdout == ""


def test_drift_format_takes_every_spelling_the_readers_accept():
    for spelling in ["auto", "kserve-v1", "v1", "v2", "tf-serving", "tfserving", "openai"]:
        result = run("serve", "--drift-format", spelling, "--queue-depth", "1")
        usage_error(result, "--queue-depth needs")  # the format itself was accepted
    assert "tfserving" in run("serve", "--help").stdout


def test_simulate_durations_and_real_binary(tmp_path):
    out = tmp_path / "summary.csv"
    result = run("simulate", "--trace", "spike", "--duration", "2m", "--startup-delay", "500ms",
                 "--signals", "concurrency", "--csv", str(out))
    assert result.returncode == 0, result.stderr
    assert "trace spike: 120 s" in result.stdout
    assert out.read_text().count("\n") >= 2
