"""What the admission costs a request, before plans and after: the gate's one cache round trip.

`admit_client` (the API key lookup, then the blocklist and every counter in
one round trip to Redis) is timed in-process, on the machine's Redis and
this checkout's database, for an anonymous client on the built-in plan and
for a key on a plan with all four allowances; and the same anonymous
admission in a checkout of the commit before plans (ADMISSION_BASELINE),
run by the same interpreter, so both figures come from one run. The issue's
bar: plans add at most 0.5 ms per request.

    .venv/bin/python bench/admission.py
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ADMISSION_BASELINE = "1a89190"
REDIS = "redis://127.0.0.1:6379/7"
REPEATS = 3000

# Run in a checkout (this one or the baseline) with its own Django: prints {case: median µs}.
TIMER = r"""
import json, os, statistics, sys, time
import django
django.setup()
from django.core.management import call_command
from django.test import RequestFactory
from django.test.utils import setup_test_environment
call_command("migrate", verbosity=0)
from inference_api.admission.gate import admit_client
from inference_api.context import Arrival

def time_admission(headers):
    factory = RequestFactory()
    samples = []
    for n in range(int(sys.argv[1])):
        request = factory.post("/api/v1/analyze/", REMOTE_ADDR=f"10.{n % 200}.{n % 7}.1", **headers)
        arrival = Arrival(request_id="bench", client_ip=request.META["REMOTE_ADDR"])
        started = time.perf_counter()
        admit_client(request, arrival)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples[100:]) * 1e6

found = {"anonymous, built-in plan": time_admission({})}
if os.environ.get("WITH_PLANS"):
    from rest_framework_api_key.models import APIKey
    from inference_api.models import KeyPlan, Plan
    plan = Plan.objects.create(name="bench", rate_per_minute=10**6, requests_per_day=10**9,
        requests_per_month=10**9, megapixels_per_day=10**9, megapixels_per_month=10**9)
    api_key, key = APIKey.objects.create_key(name="bench")
    KeyPlan.objects.create(api_key=api_key, plan=plan)
    found["a key on a plan with four allowances"] = time_admission({"HTTP_X_API_KEY": key})
    api_key, key = APIKey.objects.create_key(name="bench-default")
    found["a key on the default plan"] = time_admission({"HTTP_X_API_KEY": key})
else:
    from rest_framework_api_key.models import APIKey
    api_key, key = APIKey.objects.create_key(name="bench-default")
    found["a key on the default plan"] = time_admission({"HTTP_X_API_KEY": key})
print(json.dumps(found))
"""


def time_checkout(path: Path, repeats: int, with_plans: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="admission-") as tmp:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "REDIS_URL": REDIS,
            "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
            "RATE_LIMIT_PER_IP": "1000000/m",
            "RATE_LIMIT_PER_KEY": "1000000/m",
            "TEST_VAR_DIR": tmp,
            "WITH_PLANS": "1" if with_plans else "",
        }
        result = subprocess.run(
            [sys.executable, "-c", TIMER, str(repeats)],
            cwd=path, env=env, capture_output=True, text=True, check=True,
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(repeats: int = REPEATS) -> dict:
    """{"before": {case: µs}, "after": {case: µs}} in one run, the baseline first."""
    import redis

    from bench import common
    from bench.request_path import baseline_checkout

    redis.Redis.from_url(REDIS).flushdb()
    before = time_checkout(baseline_checkout(ADMISSION_BASELINE), repeats, with_plans=False)
    redis.Redis.from_url(REDIS).flushdb()
    after = time_checkout(common.REPO, repeats, with_plans=True)
    return {"before": before, "after": after, "repeats": repeats, "baseline": ADMISSION_BASELINE}


SECTION = """## The admission with plans: one round trip, before and after

`bench/admission.py`: `admit_client` timed in-process (API key lookup on
SQLite, then the blocklist and every counter in one Redis round trip), median
of {repeats} calls, in this checkout and in commit {baseline} (before plans),
in the same run. Plans count the rate and the allowances in one Lua script
inside the same pipeline as the blocklist read; the issue's bar is at most
0.5 ms added per request.
"""


def section(found: dict) -> str:
    lines = [SECTION.format(**found), "| admission | before (µs) | after (µs) | added (µs) |",
             "|---|---|---|---|"]
    for case, after in found["after"].items():
        # Before plans, every key was on the one key rate: that is its "before".
        before = found["before"].get(case) or found["before"]["a key on the default plan"]
        lines.append(f"| {case} | {before:.0f} | {after:.0f} | {after - before:+.0f} |")
    return "\n".join([*lines, ""])


def main() -> None:
    found = measure()
    sys.stdout.write(section(found))


if __name__ == "__main__":
    main()
