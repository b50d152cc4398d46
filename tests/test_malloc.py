"""A job's malloc settings: what use_malloc_settings gives the LSTM's jobs and no other."""

import os
import subprocess
import sys

from auflow.models.registry import MODELS

LSTM_SETTINGS = MODELS["lstm"].environment

SCRIPT = (
    "import os, sys\n"
    "from auflow.workflow import malloc_settings, use_malloc_settings\n"
    "print('start', os.getpid(), flush=True)\n"
    "use_malloc_settings(sys.argv[1])\n"
    "print('settings', malloc_settings(), flush=True)\n"
)


def without_malloc_settings() -> dict[str, str]:
    """This process's environment without the settings (a developer may have set them)."""
    return {k: v for k, v in os.environ.items() if k not in LSTM_SETTINGS}


def run_script(tmp_path, classifier, **environment):
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script), classifier],
        capture_output=True,
        text=True,
        check=True,
        env={**without_malloc_settings(), **environment},
    )
    return result.stdout.splitlines()


def test_an_lstm_job_restarts_once_in_the_same_process_with_the_settings(tmp_path):
    lines = run_script(tmp_path, "lstm")
    # the script ran twice, the second time in the same process (exec), with the settings
    starts = [line for line in lines if line.startswith("start ")]
    assert len(starts) == 2 and starts[0] == starts[1]
    expected = ", ".join(f"{k}={v}" for k, v in sorted(LSTM_SETTINGS.items()))
    assert lines[-1] == f"settings {expected}"


def test_a_classic_model_job_keeps_glibcs_own_settings(tmp_path):
    lines = run_script(tmp_path, "svm_linear")
    assert [line.split()[0] for line in lines] == ["start", "settings"]
    assert lines[-1] == "settings "  # none


def test_a_setting_the_user_made_is_kept(tmp_path):
    lines = run_script(tmp_path, "lstm", MALLOC_ARENA_MAX="4")
    assert len([line for line in lines if line.startswith("start ")]) == 2
    top_pad = LSTM_SETTINGS["MALLOC_TOP_PAD_"]
    assert lines[-1] == f"settings MALLOC_ARENA_MAX=4, MALLOC_TOP_PAD_={top_pad}"


def test_a_process_without_a_script_file_is_not_restarted():
    code = SCRIPT.replace("sys.argv[1]", "'lstm'")
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=without_malloc_settings(),
    )
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["start", "settings"]
