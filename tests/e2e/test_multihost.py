"""More than one host, for real: replicas in network namespaces behind the shipped nginx.

Two replicas of the real service, each on a host of its own (a Linux network
namespace on a private bridge, 10.231.<k>.0/24: inference_api.testing.netns),
each its own gunicorn (one sync worker) and decoders, the production
settings. They reach the machine's PostgreSQL and Redis, which listen on
127.0.0.1 only, through socat relays on the bridge address, and a moto S3
server listening on the bridge address, which holds the models. Debian's
nginx, with deploy/nginx.conf, balances between them. The test is the
orchestrator: it stops, starts and probes replicas, and takes a replica that
is not ready out of nginx's upstream (marked `down`, nginx reloaded), as a
Kubernetes Service drops an endpoint whose readiness probe fails.

Each test prints its numbers (requests sent, answered, refused, failed,
audited, model versions seen). docs/deploy.md, "More than one host", says
what they prove and how to rerun them.
"""

import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest
import redis

from inference_api.testing import netns, services
from inference_api.testing.edge import TEMPLATE, Balancer, without_comments
from inference_api.testing.http import multipart, post
from inference_api.testing.load import SteadyLoad, Tally, send, small_jpeg
from inference_api.testing.replicas import NotReady, Replica
from inference_api.testing.servers import (
    MALLOC_TUNED,
    REPO,
    database_rows,
    eventually,
    free_port,
    moto_server,
    postgres_database,
    s3_client,
    wait_for_fresh_window,
    worker_pids,
)

pytestmark = [pytest.mark.live, pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

KEY_ID, SECRET = "multihost-key", "multihost-secret"
MODELS, QUARANTINE = "models", "quarantine"
V1, V2 = "lite0-release-1", "lite0-release-2"
RATE = 20  # per minute and address: RATE_LIMIT_PER_IP of the replicas


@dataclass
class Fleet:
    """What the tests drive: the replicas, nginx, the database and the models."""

    replicas: list[Replica]
    edge: Balancer
    database: str
    redis_url: str
    models: dict[str, tuple[str, str]]  # version -> (file name, SHA-256)
    network: netns.Network
    # The replicas' environment as this machine reaches the database and Redis.
    local_env: dict[str, str] = field(default_factory=dict)
    in_service: set[str] = field(default_factory=set)  # the addresses nginx sends to

    def serving(self) -> set[str]:
        return set(self.in_service)

    def route(self, serving: set[str]) -> None:
        """nginx sends new requests to `serving` only, once this returns."""
        self.in_service = set(serving)
        self.edge.route(self.in_service)

    def audited(self, request_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
        """request id -> the (outcome, model version) of each of its audit rows."""
        rows = database_rows(
            self.database,
            "SELECT request_id, outcome, model_version FROM inference_api_auditlog "
            "WHERE request_id = ANY(%s)",
            (request_ids,),
        )
        found: dict[str, list[tuple[str, str]]] = {}
        for request_id, outcome, version in rows:
            found.setdefault(request_id, []).append((outcome, version))
        return found

    def wait_audited(self, request_ids: list[str], timeout: float = 30) -> dict[str, list]:
        """As audited(), once every id has a row (rows are written after the answer)."""
        wanted = set(request_ids)

        def complete() -> dict[str, list]:
            found = self.audited(request_ids)
            return found if wanted <= set(found) else {}

        return eventually(complete, timeout=timeout, interval=0.5) or self.audited(request_ids)

    def answered_by(self) -> dict[str, str]:
        """request id -> the name of the replica that answered it (from its request lines)."""
        return {rid: r.name for r in self.replicas for rid in r.request_ids()}


def on_the_bridge(url: str, gateway: str) -> str:
    """`url` with its host replaced by the bridge address (where the relay listens)."""
    parsed = urlparse(url)
    userinfo, _, _ = parsed.netloc.rpartition("@")
    hostport = f"{gateway}:{parsed.port}"
    return urlunparse(parsed._replace(netloc=f"{userinfo}@{hostport}" if userinfo else hostport))


def export_release(env: dict[str, str], name: str, version: str) -> str:
    """`manage.py export_model --model-version` into the S3 bucket; the printed SHA-256."""
    done = subprocess.run(
        [sys.executable, "manage.py", "export_model", "--name", name, "--model-version", version],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    return re.search(r"SHA-256 ([0-9a-f]{64})", done.stdout).group(1)


def replica_env(gateway: str, database: str, redis_url: str, s3: str, tmp: Path) -> dict:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp),
        "PYTHONUNBUFFERED": "1",
        **MALLOC_TUNED,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "multihost-secret-key-0123456789abcdefghijklmnopqrstuvwxyz-0123",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_FORMAT": "json",
        # nginx reaches the replicas from the machine's bridge address.
        "TRUSTED_PROXIES": f"{gateway}/32",
        "DATABASE_URL": on_the_bridge(database, gateway) + "?connect_timeout=3",
        "REDIS_URL": on_the_bridge(redis_url, gateway),
        "R2_ENDPOINT_URL": s3,
        "R2_ACCESS_KEY_ID": KEY_ID,
        "R2_SECRET_ACCESS_KEY": SECRET,
        "R2_MODEL_BUCKET": MODELS,
        "R2_QUARANTINE_BUCKET": QUARANTINE,
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "1",
        "TORCH_THREADS": "1",
        "RATE_LIMIT_PER_IP": f"{RATE}/m",
    }


def migrate(env: dict[str, str]) -> None:
    """The schema, as the migrate Job applies it; prints what that run cost."""
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                   cwd=REPO, env=env, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # What the migrate Job needs (deploy/k8s/migrate-job.yaml's requests).
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    report("migrate", wall_s=round(time.monotonic() - started, 1), cpu_s=round(cpu, 1))


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    """Two replicas on hosts of their own behind nginx, serving model V1; all removed after."""
    unavailable = netns.namespaces_unavailable()
    services.require(not unavailable, "Linux network namespaces", unavailable or "")
    services.require(os.path.exists(netns.SOCAT), "socat", "run `make system-deps`")
    nginx = services.require_nginx()
    postgres, redis_url = services.require_postgres(), services.require_redis()
    with tempfile.TemporaryDirectory(prefix="multihost-") as tmpdir, \
            netns.private_network(2) as network, postgres_database(postgres) as database:
        tmp = Path(tmpdir)
        tmp.chmod(0o755)
        gateway = network.gateway
        pg_port, redis_port = urlparse(postgres).port or 5432, urlparse(redis_url).port or 6379
        redis.Redis.from_url(redis_url).flushdb()
        with netns.forwards(gateway, {pg_port: pg_port, redis_port: redis_port}, tmp), \
                moto_server(free_port(), tmp / "moto.log", host=gateway) as s3:
            s3_client(s3, KEY_ID, SECRET, buckets=(MODELS, QUARANTINE))
            env = replica_env(gateway, database, redis_url, s3, tmp)
            on_this_machine = {**env, "DATABASE_URL": database}
            models = {V1: ("lite0-v1.pt", export_release(on_this_machine, "lite0-v1.pt", V1))}
            replicas = [
                Replica(f"replica-{i}", host, env, tmp) for i, host in enumerate(network.hosts)
            ]
            edge = Balancer(nginx, tmp / "edge", free_port(), [r.address for r in replicas])
            (tmp / "edge").mkdir()
            try:
                for replica in replicas:
                    replica.start(MODEL_FILE_NAME=models[V1][0], MODEL_SHA256=models[V1][1])
                # While the replicas start (no traffic before nginx does): the schema
                # and the second release, at once, to keep the setup short.
                with ThreadPoolExecutor(2) as pool:
                    schema = pool.submit(migrate, on_this_machine)
                    v2 = pool.submit(export_release, on_this_machine, "lite0-v2.pt", V2)
                    schema.result()
                    models[V2] = ("lite0-v2.pt", v2.result())
                for replica in replicas:
                    replica.wait_ready()
                edge.start({r.address for r in replicas})
                yield Fleet(replicas, edge, database, redis_url, models, network,
                            local_env=on_this_machine, in_service={r.address for r in replicas})
            finally:
                edge.stop()
                for replica in replicas:
                    replica.kill()


def report(title: str, **numbers) -> None:
    print(f"\n[multihost] {title}: " + ", ".join(f"{k}={v}" for k, v in numbers.items()))


def fresh_address(prefix: str, first: int, needed: float) -> str:
    """A loopback address whose rate-limit window has `needed` seconds left, without waiting.

    django-ratelimit staggers windows per bucket: among a few addresses one
    has just started its window.
    """
    for last in range(first, first + 60):
        address = f"{prefix}.{last}"
        ends = wait_for_fresh_window([f"ip:{address}"], 60, 0)
        if ends[f"ip:{address}"] + 1 - time.time() >= needed:
            return address
    raise RuntimeError("no address with a fresh window")


def block(fleet: Fleet, network: str) -> None:
    """A block as the admin makes it: saved through Django, so the shared index has it at once."""
    script = (
        "from inference_api.models import BlockedClient; "
        f"BlockedClient.objects.create(network={network!r}, reason='multi-host test')"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=REPO, env=fleet.local_env, check=True, capture_output=True, timeout=120,
    )


def refusals_counted(fleet: Fleet, outcome: str, client: str, expected: int) -> int:
    """The refusals of `client` with `outcome` in the audit (aggregated rows), once `expected`."""
    counted = database_rows(
        fleet.database,
        "SELECT coalesce(sum(count), 0) FROM inference_api_auditlog "
        "WHERE outcome = %s AND client_ip = %s",
        (outcome, client),
    )[0][0]
    return counted if counted >= expected else 0


def test_one_rate_limit_and_one_blocklist_across_replicas(fleet):
    body = multipart(small_jpeg(), "image/jpeg", "limit.jpg")
    client = fresh_address("127.0.0", 10, needed=40)
    answers = []
    for _ in range(RATE + 5):
        answers.append(send(fleet.edge.url, body, client))
        time.sleep(0.05)  # under nginx's own 10 r/s (burst 20): every 429 is the app's
    statuses = [a.status for a in answers]
    ok = [a.request_id for a in answers if a.status == 200]
    limited = [a for a in answers if a.status == 429]
    audited = fleet.wait_audited(ok)
    aggregated = eventually(lambda: refusals_counted(fleet, "rate_limited", client, 5))
    by = fleet.answered_by()
    replicas_429 = {by.get(a.request_id) for a in limited}
    report("rate limit", client=client, limit=RATE, sent=len(answers), answered=len(ok),
           limited=len(limited), audited_answers=len(audited), audited_429=aggregated,
           answered_by=sorted(filter(None, {by.get(rid) for rid in ok})),
           limited_by=sorted(filter(None, replicas_429)))
    assert statuses == [200] * RATE + [429] * 5, statuses
    assert all(a.code == "rate_limited" for a in limited)
    assert len({r.name for r in fleet.replicas} & {by.get(rid) for rid in ok}) == 2
    assert {rid: len(v) for rid, v in audited.items()} == dict.fromkeys(ok, 1)
    assert aggregated == 5, "each 429 counted once, by the app (not the edge)"

    blocked_client = "127.0.0.250"
    block(fleet, f"{blocked_client}/32")
    refusals = [send(fleet.edge.url, body, blocked_client) for _ in range(6)]
    total = eventually(lambda: refusals_counted(fleet, "blocked", blocked_client, 6))
    by = fleet.answered_by()
    blocked_by = sorted(filter(None, {by.get(a.request_id) for a in refusals}))
    report("blocklist", client=blocked_client, sent=len(refusals),
           blocked=sum(a.status == 403 for a in refusals), audited=total, blocked_by=blocked_by)
    assert [(a.status, a.code) for a in refusals] == [(403, "blocked")] * 6
    assert total == 6
    assert len(blocked_by) == 2, "both replicas refuse the client one block names"


def judge(
    title: str, fleet: Fleet, tally: Tally, died: bool = False, **extra
) -> dict[str, list[str]]:
    """Prints the numbers of a scenario; asserts no request failed and every answer is audited.

    An answer's audit row names the answer's model version. With `died`, a
    200 may instead have the row `worker_died`, written by gunicorn's master
    for a worker killed after it answered and before it wrote its own row.
    """
    ok = [a.request_id for a in tally.answers if a.answered]
    audited = fleet.wait_audited(ok)
    by = fleet.answered_by()
    per_replica = {r.name: sum(by.get(rid) == r.name for rid in ok) for r in fleet.replicas}
    report(title, sent=tally.sent, answered=tally.answered, refused_retryable=tally.refused,
           failed=len(tally.failed), audited=sum(len(v) for v in audited.values()),
           versions=tally.versions(), per_replica=per_replica, **extra)
    assert tally.sent > 0
    assert not tally.failed, tally.failed[:5]
    missing = [rid for rid in ok if len(audited.get(rid, [])) != 1]
    assert not missing, f"answered but not audited exactly once: {missing[:5]}"
    # Every answer names the model that produced it: the audit row, written by
    # the replica that ran it, says the same version.
    for answer in tally.answers:
        if answer.answered:
            rows = audited[answer.request_id]
            assert rows == [("ok", answer.model_version)] or (
                died and rows == [("worker_died", "")]
            ), (answer, rows)
    return {name: [rid for rid in ok if by.get(rid) == name] for name in per_replica}


def unanswered(fleet: Fleet, tally: Tally, since: float) -> list[str]:
    """The answers that are not 200s, each with who gave it: a replica (its request line
    names the id) or nginx. The app's 503 `service_unavailable` (its rate-limit store
    unreachable) and nginx's look alike to the Tally."""
    by = fleet.answered_by()
    return [
        f"{a.status} {a.code or a.error} Retry-After={a.retry_after!r} "
        f"sent {a.started - since:+.2f} s, took {a.ended - a.started:.2f} s, "
        f"answered by {by.get(a.request_id, 'nginx')} ({a.request_id})"
        for a in tally.answers if not a.answered
    ]


def test_a_replica_cut_off_mid_load_loses_nothing_and_rejoins(fleet):
    survivor, cut = fleet.replicas
    idle_cpu, idle_from = survivor.cpu_seconds(), time.monotonic()
    time.sleep(2)
    idle_cores = (survivor.cpu_seconds() - idle_cpu) / (time.monotonic() - idle_from)
    with SteadyLoad(fleet.edge.url, clients=2) as load:
        time.sleep(3)
        cut_at = time.monotonic()
        cut.host.cut()
        time.sleep(8)
        restored_at = time.monotonic()
        cut.host.rejoin()
        # Rejoined: it answers a request sent after its link came back (nginx
        # tries a failed server again after fail_timeout, 10 s).
        rejoined = eventually(
            lambda: any(a.answered and a.started > restored_at and a.request_id in ids
                        for ids in [cut.request_ids()] for a in load.tally().answers),
            timeout=40, interval=0.5)
        rejoined_at = time.monotonic()
        time.sleep(1)
    tally = load.tally()
    during = tally.between(cut_at, restored_at)
    by = judge("cut off", fleet, tally, cut_seconds=round(restored_at - cut_at, 1),
               answered_while_cut=during.answered, refused_while_cut=during.refused,
               # What an idle replica uses (deploy/k8s/deployment.yaml's CPU request).
               idle_cores=round(idle_cores, 3),
               rejoined_after_s=round(rejoined_at - restored_at, 1))
    late = [a for a in tally.answers if a.answered and a.request_id in set(by[cut.name])
            and a.started > restored_at]
    assert during.answered > 0, "the survivor kept serving"
    # Nothing was lost with the cut replica: a request nginx could not connect
    # was passed on (proxy_next_upstream), one in flight was answered once the
    # link came back (within proxy_read_timeout), a request the cut replica was
    # admitting too (its count waited for the link: admission.gate).
    assert tally.refused == 0, unanswered(fleet, tally, cut_at)
    assert rejoined and late, "the cut-off replica serves again once its link is back"


def test_a_request_a_replica_holds_when_its_link_is_cut_is_answered_once_it_is_back(fleet):
    """The cut above, made certain to catch a request before its count (admission.gate).

    The worker is stopped while the request reaches the replica, the link is
    cut, the worker goes on: its round trip to the counters times out, the
    blocklist's database read waits for the link, and the request is counted
    then and answered, not refused 503 `service_unavailable` (as it was, once in
    a full run of the cut-off above).
    """
    cut = fleet.replicas[1]
    body = multipart(small_jpeg(), "image/jpeg", "held.jpg")
    [worker] = worker_pids(cut.process.pid)[:1]
    replies = []
    os.kill(worker, signal.SIGSTOP)
    try:
        # Sent to the replica itself: nginx has already handed the request over.
        client = threading.Thread(target=lambda: replies.append(post(
            cut.url, body, headers={"Host": "localhost", "X-Forwarded-For": "127.0.2.1"})))
        client.start()
        time.sleep(0.3)  # connected, the request in the replica's socket buffer
        cut.host.cut()
    finally:
        os.kill(worker, signal.SIGCONT)
    try:
        time.sleep(3)
    finally:
        cut.host.rejoin()
    client.join(60)
    [reply] = replies
    audited = fleet.wait_audited([reply.request_id])
    report("held while cut", status=reply.status, code=reply.json().get("code", ""),
           took_s=round(reply.elapsed_ms / 1000, 1), audited=audited.get(reply.request_id))
    assert reply.status == 200, reply.body
    assert [outcome for outcome, _ in audited[reply.request_id]] == ["ok"]
    assert "reached again after the database" in cut.log()


def test_a_replica_whose_worker_is_killed_mid_load_loses_nothing(fleet):
    victim = fleet.replicas[1]
    with SteadyLoad(fleet.edge.url, clients=2) as load:
        time.sleep(2)
        killed_at = time.monotonic()
        pid, busy = victim.kill_busy_worker()
        assert eventually(lambda: any(
            w != pid for w in worker_pids(victim.process.pid)), timeout=30)
        replaced_at = time.monotonic()
        served_before = victim.request_ids()
        # nginx sends a replica that failed a request nothing for fail_timeout
        # (10 s), then tries it again: the load runs until the victim answers.
        served_again = eventually(lambda: victim.request_ids() - served_before, timeout=30)
        back_at = time.monotonic()
        time.sleep(1)
    tally = load.tally()
    died = database_rows(
        fleet.database,
        "SELECT count(*) FROM inference_api_auditlog WHERE outcome = 'worker_died'")[0][0]
    by = judge("worker killed", fleet, tally, died=True, caught_busy=busy,
               worker_died_rows=died, new_worker_s=round(replaced_at - killed_at, 1),
               serving_again_s=round(back_at - killed_at, 1))
    # The request the worker held, if it had got that far, was answered by nginx
    # (503, retryable) and audited by gunicorn's master as worker_died; one
    # still being read or already audited has no such row, and needs none.
    assert served_again and served_again <= set(by[victim.name])
    assert any(a.answered and a.request_id in served_again for a in tally.answers), (
        "the killed worker's replica serves the load again"
    )


def replace(fleet: Fleet, replica: Replica, settle: float | None = None, **changes: str) -> bool:
    """One step of a rolling update: out of nginx, stopped, started with `changes`, back if ready.

    Out of nginx first, as Kubernetes takes a stopping pod out of the Service
    before its preStop pause ends: nothing is on its way to it when gunicorn
    closes its socket. Back into nginx only once /readyz says 200; a replica
    that does not become ready stays out and the others keep serving.
    """
    fleet.route(fleet.serving() - {replica.address})
    replica.stop()
    replica.start(**changes)
    try:
        replica.wait_ready(settle=settle)
    except NotReady:
        return False
    fleet.route(fleet.serving() | {replica.address})
    return True


def test_a_rolling_restart_under_load_fails_no_request(fleet):
    with SteadyLoad(fleet.edge.url, clients=2) as load:
        time.sleep(2)
        for replica in fleet.replicas:
            assert replace(fleet, replica)
        time.sleep(2)
    tally = load.tally()
    judge("rolling restart", fleet, tally, restarted=len(fleet.replicas))
    assert tally.refused == 0 and tally.answered == tally.sent


def test_a_new_model_rolls_out_without_downtime(fleet):
    v1_sha, (v2_name, v2_sha) = fleet.models[V1][1], fleet.models[V2]
    first, second = fleet.replicas
    phases: list[tuple[str, float]] = []
    with SteadyLoad(fleet.edge.url, clients=2) as load:
        time.sleep(2)
        # A pin that does not match the stored file (the v2 file pinned with v1's
        # hash, as a typo in the ConfigMap would): that replica never gets ready.
        phases.append(("wrong pin", time.monotonic()))
        alone_cpu = second.cpu_seconds()
        assert not replace(fleet, first, settle=6,
                           MODEL_FILE_NAME=v2_name, MODEL_SHA256=v1_sha)
        alone_cores = (second.cpu_seconds() - alone_cpu) / (time.monotonic() - phases[-1][1])
        status, body = first.readiness()
        phases.append(("rollout", time.monotonic()))
        assert replace(fleet, first, MODEL_FILE_NAME=v2_name, MODEL_SHA256=v2_sha)
        assert replace(fleet, second, MODEL_FILE_NAME=v2_name, MODEL_SHA256=v2_sha)
        phases.append(("after", time.monotonic()))
        time.sleep(4)
        phases.append(("end", time.monotonic()))
    tally = load.tally()
    seen = {name: tally.between(start, end).versions()
            for (name, start), (_, end) in zip(phases, phases[1:], strict=False)}
    alone = tally.between(phases[0][1], phases[1][1])
    judge("model rollout", fleet, tally, versions_per_phase=seen,
          refused_pin={"status": status, "failed": body.get("failed")},
          # One replica (one sync worker) serving the whole load alone: the CPU
          # it used (deploy/k8s/deployment.yaml's requests are sized from it).
          alone_rps=round(alone.sent / (phases[1][1] - phases[0][1]), 1),
          alone_cores=round(alone_cores, 2))
    assert status == 503 and body["failed"] == ["model"]
    assert "does not match the pinned" in first.log()
    assert set(seen["wrong pin"]) == {V1}, "the old replica served alone"
    assert set(seen["rollout"]) == {V1, V2}
    assert set(seen["after"]) == {V2}
    assert tally.refused == 0 and tally.answered == tally.sent


def test_the_edge_retries_only_what_no_replica_received():
    """A request nginx could not hand to a replica goes to the next; a sent POST never does."""
    text = without_comments(TEMPLATE.read_text())
    retried = re.search(r"proxy_next_upstream\s+([^;]+);", text).group(1).split()
    assert {"error", "timeout"} <= set(retried)
    assert "non_idempotent" not in retried, "an upload that kills a worker is never replayed"
    assert re.search(r"proxy_next_upstream_tries\s+\d+;", text)
    assert re.search(r"proxy_next_upstream_timeout\s+\d+s;", text)


def test_the_namespaces_links_and_processes_are_removed_even_on_failure(tmp_path):
    unavailable = netns.namespaces_unavailable()
    services.require(not unavailable, "Linux network namespaces", unavailable or "")
    started: list[int] = []
    with pytest.raises(RuntimeError, match="boom"), netns.private_network(1) as network:
        sleeper = subprocess.Popen(network.hosts[0].command(["sleep", "300"]))
        started.append(sleeper.pid)
        threading.Thread(target=sleeper.wait, daemon=True).start()
        raise RuntimeError("boom")
    assert netns.leftovers(network) == []
    assert not Path(f"/proc/{started[0]}").exists() or _is_zombie(started[0])


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True

