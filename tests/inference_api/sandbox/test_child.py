"""sandbox/child.py: a job's kernel limits follow what its header earns (imaging/cost.py)."""

import os
import signal

from inference_api.imaging import cost
from inference_api.imaging.limits import DecodeLimits, ModelInput
from inference_api.sandbox import child
from inference_api.testing.images.largest import build

HEAD = {"limits": DecodeLimits.from_settings(cpu_seconds=30, wall_seconds=60).as_dict(),
        "model_input": ModelInput().as_dict()}  # fmt: skip


def run_job_in_a_fork(data: bytes, per_megapixel_ms: float) -> tuple[int, dict | None]:
    """`child.run_job` in a forked process with the class priced at `per_megapixel_ms`.

    Returns how the process ended (its signal, 0 for none) and the reply head.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the decoder's side: price the class, run the job, report
        os.close(read_end)
        cost.PER_MEGAPIXEL_MS["png_rgba_8"] = per_megapixel_ms
        cost.PER_MEGABYTE_MS["png"] = 0.0
        reply, _ = child.run_job(HEAD, data)
        os.write(write_end, repr(reply).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        written = pipe.read()
    _, status = os.waitpid(pid, 0)
    ended_by = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
    return ended_by, eval(written) if written else None  # noqa: S307 - our own repr


def test_the_kernel_stops_a_job_at_its_headers_allowance_not_at_the_ceiling():
    data = build("png_rgba", 6000)  # 36 MP of RGBA: ~350 ms of decode
    ended_by, reply = run_job_in_a_fork(data, per_megapixel_ms=0.0)
    # Priced at nothing, its allowance is the base (0.15 s): the kernel's CPU timer ends it,
    # where the ceiling of the job's head (30 s) would have let it finish.
    assert ended_by == signal.SIGPROF, reply


def test_a_job_priced_as_measured_finishes_and_reports_its_allowance():
    data = build("png_rgba", 4000)
    ended_by, reply = run_job_in_a_fork(data, per_megapixel_ms=cost.PER_MEGAPIXEL_MS["png_rgba_8"])
    assert ended_by == 0 and reply["ok"], reply
    assert reply["image_class"] == "png_rgba_8"
    assert reply["cpu_ms"] < reply["allowance_ms"] < 30_000
