"""A job's thread pools: what use_threads leaves to a Snakemake job with N threads."""

import json
import subprocess
import sys


def test_use_threads_limits_opencv_and_blas_to_the_jobs_threads():
    # in a fresh process: the limits are process-wide and would outlive the test here
    script = (
        "import json, cv2, numpy\n"
        "from threadpoolctl import threadpool_info\n"
        "from auflow.workflow import use_threads\n"
        "use_threads(1)\n"
        "blas = [p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas']\n"
        "print(json.dumps({'opencv': cv2.getNumThreads(), 'blas': blas}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    threads = json.loads(result.stdout)
    assert threads["opencv"] == 1
    assert threads["blas"] and set(threads["blas"]) == {1}  # numpy's BLAS is found and limited
