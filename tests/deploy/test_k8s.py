"""The Kubernetes base (deploy/k8s) keeps the promises docs/deploy.md makes.

The manifests are rendered the way kustomize would (k8s_manifests.py) and
checked against the sources they must agree with: the Dockerfile (uid,
VAR_DIR), the app's upload cap and envelope, deploy/nginx.conf's limits,
gunicorn's timeouts and config/environment.py (README's configuration
table). `make k8s-check` validates the same files against Kubernetes'
schemas and checkov's policies.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from config import environment
from config.environment import ENVIRONMENT
from inference_api.operations.checklist import check_trusted_proxies
from inference_api.upload.body import ENVELOPE_BYTES
from tests.deploy.k8s_manifests import K8S, example_secret, kustomization, one, render
from tests.test_dockerfile import arg_defaults, env_values, final_stage

ROOT = Path(__file__).resolve().parents[2]
OBJECTS = render()
DEPLOYMENT = one(OBJECTS, "Deployment")
POD = DEPLOYMENT["spec"]["template"]["spec"]
API = next(c for c in POD["containers"] if c["name"] == "api")
CONFIG = one(OBJECTS, "ConfigMap")["data"]
SECRET_KEYS = set(example_secret()["stringData"])
IMAGE_ENV = env_values(final_stage())
APP_UID = int(arg_defaults(final_stage())["APP_UID"])
# Credentials: never in the ConfigMap.
CREDENTIALS = {v.name for v in ENVIRONMENT if v.secret}


def all_containers(pod: dict) -> list[dict]:
    return pod.get("initContainers", []) + pod["containers"]


def nginx_directive(name: str) -> str:
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    return re.search(rf"^\s*{name}\s+(\S+);", text, re.MULTILINE).group(1)


def served_settings() -> set[str]:
    """Every variable of config/environment.py that a serving pod reads (not the suite's)."""
    return {v.name for v in ENVIRONMENT if set(v.read_by) - {environment.TEST}}


def test_the_base_lists_every_manifest_but_the_example_secret():
    listed = set(kustomization()["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert on_disk - listed == {"secret.example.yaml"}, "no committed secret is applied"
    assert listed <= on_disk


def test_every_object_lives_in_the_apps_namespace():
    for obj in OBJECTS:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "inference-api", obj["kind"]


def test_the_deployment_runs_several_replicas_spread_over_nodes():
    assert DEPLOYMENT["spec"]["replicas"] >= 2
    labels = DEPLOYMENT["spec"]["template"]["metadata"]["labels"]
    spread = [c for c in POD["topologySpreadConstraints"]
              if c["topologyKey"] == "kubernetes.io/hostname"]
    assert spread and spread[0]["whenUnsatisfiable"] == "DoNotSchedule"
    assert spread[0]["labelSelector"]["matchLabels"].items() <= labels.items()


def test_the_spread_counts_only_the_pods_of_one_rollout():
    """Without matchLabelKeys a rolling update counts the old ReplicaSet's pods too
    and packs the new ones on one node (seen on a two-node cluster)."""
    for constraint in POD["topologySpreadConstraints"]:
        assert constraint["matchLabelKeys"] == ["pod-template-hash"], constraint["topologyKey"]


def test_probes_hit_healthz_and_readyz_on_gunicorns_port():
    port = next(p for p in API["ports"] if p["name"] == "http")["containerPort"]
    assert CONFIG["GUNICORN_BIND"] == f"0.0.0.0:{port}", "explicit bind on the pod's address"
    paths = {name: API[name]["httpGet"]["path"]
             for name in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert paths == {"startupProbe": "/healthz", "readinessProbe": "/readyz",
                     "livenessProbe": "/healthz"}
    for name in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = API[name]["httpGet"]
        assert get["port"] == "http"
        # The kubelet's Host would be the pod's IP, which ALLOWED_HOSTS refuses.
        assert {"name": "Host", "value": "localhost"} in get["httpHeaders"]
    assert "localhost" in CONFIG["ALLOWED_HOSTS"].split(",")


def pod_spec(kind: str) -> dict:
    spec = one(OBJECTS, kind)["spec"]
    return (spec["jobTemplate"]["spec"] if kind == "CronJob" else spec)["template"]["spec"]


@pytest.mark.parametrize("kind", ["Deployment", "Job", "CronJob"])
def test_pods_run_unprivileged_read_only_as_the_images_uid(kind):
    pod = pod_spec(kind)
    context = pod["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == APP_UID
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    for container in all_containers(pod):
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, container["name"]
        assert security["allowPrivilegeEscalation"] is False, container["name"]
        assert security["capabilities"]["drop"] == ["ALL"], container["name"]
        assert "add" not in security["capabilities"], container["name"]
    account = one(OBJECTS, "ServiceAccount", pod["serviceAccountName"])
    assert account["automountServiceAccountToken"] is False


def test_the_writable_folders_are_empty_dirs_and_shm_is_in_memory():
    volumes = {v["name"]: v for v in POD["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in API["volumeMounts"]}
    assert CONFIG["VAR_DIR"] == IMAGE_ENV["VAR_DIR"]
    assert "emptyDir" in mounts[IMAGE_ENV["VAR_DIR"]]
    # TMPDIR lies under VAR_DIR in the image; an emptyDir there would hide the folder.
    assert "emptyDir" in mounts[IMAGE_ENV["TMPDIR"]]
    assert mounts["/dev/shm"]["emptyDir"]["medium"] == "Memory"
    assert CONFIG["PROMETHEUS_MULTIPROC_DIR"].startswith("/dev/shm/")


def test_requests_and_limits_follow_the_workers():
    resources = API["resources"]
    workers = int(CONFIG["WEB_CONCURRENCY"])
    threads = int(CONFIG["TORCH_THREADS"]) * int(CONFIG["GUNICORN_THREADS"])
    # One core per sync worker and torch thread: the CPU limit is what they can use.
    assert millicpu(resources["limits"]["cpu"]) == 1000 * workers * threads
    assert millicpu(resources["requests"]["cpu"]) <= millicpu(resources["limits"]["cpu"])
    # Memory limit = request, sized for every worker at its worst
    # (docs/deploy.md, "More than one host", shows the arithmetic).
    assert resources["limits"]["memory"] == resources["requests"]["memory"]
    memory_mib = int(resources["limits"]["memory"].removesuffix("Mi"))
    gunicorn_threads = int(CONFIG["GUNICORN_THREADS"])
    decode_budget_mib = int(CONFIG["DECODE_MEMORY_BYTES"]) // (1024 * 1024)
    further_worker = IDLE_WORKER_MIB + (gunicorn_threads + 1) * IDLE_DECODER_MIB
    needed = (
        ONE_WORKER_MIB
        + (workers - 1) * further_worker
        + workers * gunicorn_threads * decode_budget_mib
    )
    assert memory_mib >= needed + SHM_MIB
    for container in all_containers(POD):
        assert {"cpu", "memory"} <= set(container["resources"]["limits"]), container["name"]


def millicpu(quantity: str) -> int:
    if quantity.endswith("m"):
        return int(quantity.removesuffix("m"))
    return int(float(quantity) * 1000)


def pod_request(pod: dict, resource: str) -> int:
    """The CPU the scheduler reserves for a pod: its containers' sum, or its largest init's."""
    containers = sum(millicpu(c["resources"]["requests"][resource]) for c in pod["containers"])
    inits = [millicpu(c["resources"]["requests"][resource]) for c in pod.get("initContainers", [])]
    return max([containers, *inits])


# A 2-CPU node's CPU that pods cannot have: the kubelet's reservation and the
# DaemonSets every node runs (kube-proxy, the CNI), as docs/deploy.md counts them.
NODE_MILLICPU = 2000
SYSTEM_MILLICPU = 400


def test_a_surge_pod_an_old_pod_and_the_migrate_job_fit_one_2_cpu_node():
    """A rolling update on two nodes puts the surge pod next to an old one while the
    release's migrate Job runs: with the whole node requested, nothing could start."""
    api = pod_request(POD, "cpu")
    job = pod_request(pod_spec("Job"), "cpu")
    assert 2 * api + job + SYSTEM_MILLICPU <= NODE_MILLICPU, (api, job)
    assert DEPLOYMENT["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 1


def test_the_autoscaler_targets_a_share_of_what_a_pod_can_use():
    """The CPU request is sized to fit the node; when to scale is said in cores."""
    [metric] = one(OBJECTS, "HorizontalPodAutoscaler")["spec"]["metrics"]
    target = metric["resource"]["target"]
    assert target["type"] == "AverageValue"
    limit = millicpu(API["resources"]["limits"]["cpu"])
    assert millicpu(target["averageValue"]) == 0.7 * limit


# The sizing inputs docs/deploy.md derives the memory limit from: the container
# with one worker and its decoders after the corpus's largest image (make
# image-test's peak), the private memory of each further worker forked from the
# preloaded master (docs/deploy.md section 8) with its idle decoders (one per
# thread and a spare), the decode budget each busy decoder may add
# (DECODE_MEMORY_BYTES, enforced by the kernel), and /dev/shm's cap.
ONE_WORKER_MIB = 616
IDLE_WORKER_MIB = 25
IDLE_DECODER_MIB = 40
SHM_MIB = 64


def test_the_pod_outlives_gunicorns_graceful_shutdown():
    pre_stop = API["lifecycle"]["preStop"]["sleep"]["seconds"]
    graceful = int(CONFIG["GUNICORN_GRACEFUL_TIMEOUT"])
    assert POD["terminationGracePeriodSeconds"] > pre_stop + graceful


def test_migrations_run_in_the_job_and_pods_only_wait_for_them():
    job = one(OBJECTS, "Job")["spec"]["template"]["spec"]
    assert job["containers"][0]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    for container in all_containers(POD):
        command = " ".join(container.get("command", []))
        assert "migrate" not in command or "migrate --check" in command, container["name"]
    purge = pod_spec("CronJob")
    images = {c["image"] for c in all_containers(POD) + job["containers"] + purge["containers"]}
    assert len(images) == 1, "the Jobs and the pods run the same release"


def test_retention_runs_daily_and_really_deletes():
    """purge_audit_logs only counts without --yes: the scheduled run must pass it."""
    cron = one(OBJECTS, "CronJob")["spec"]
    assert len(cron["schedule"].split()) == 5 and cron["schedule"].split()[2:] == ["*"] * 3
    assert cron["concurrencyPolicy"] == "Forbid"
    pod = pod_spec("CronJob")
    assert pod["containers"][0]["command"] == ["python", "manage.py", "purge_audit_logs", "--yes"]
    assert pod["containers"][0]["envFrom"] == API["envFrom"], "AUDIT_RETENTION_DAYS and R2"


def test_the_ingress_caps_bodies_like_the_app_and_nginx_conf():
    ingress = one(OBJECTS, "Ingress")
    notes = ingress["metadata"]["annotations"]
    cap = int(CONFIG["MAX_UPLOAD_BYTES"]) + ENVELOPE_BYTES
    assert cap % 1024 == 0
    assert notes["nginx.ingress.kubernetes.io/proxy-body-size"] == f"{cap // 1024}k"
    assert nginx_directive("client_max_body_size") == f"{cap // 1024}k"
    for name in ("connect", "send", "read"):
        edge = nginx_directive(f"proxy_{name}_timeout").removesuffix("s")
        assert notes[f"nginx.ingress.kubernetes.io/proxy-{name}-timeout"] == edge
    assert notes["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "on"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == one(OBJECTS, "Service")["metadata"]["name"]


def test_every_setting_reaches_the_pods_through_the_configmap_the_secret_or_the_image():
    reachable = set(CONFIG) | SECRET_KEYS | set(IMAGE_ENV)
    missing = served_settings() - reachable
    assert not missing, f"not settable on Kubernetes: {sorted(missing)}"
    assert not CREDENTIALS & set(CONFIG), "credentials live in the Secret only"
    assert CREDENTIALS <= SECRET_KEYS
    for container in all_containers(POD):
        refs = container["envFrom"]
        assert {"configMapRef": {"name": "inference-api"}} in refs
        assert {"secretRef": {"name": example_secret()["metadata"]["name"]}} in refs


def test_the_example_secret_holds_placeholders_only():
    for key, value in example_secret()["stringData"].items():
        assert "<" in value and ">" in value, key


def test_only_the_ingress_controller_and_the_scraper_get_in():
    policy = one(OBJECTS, "NetworkPolicy")["spec"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    sources = [peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
               for rule in policy["ingress"] for peer in rule["from"]]
    assert sources == ["ingress-nginx", "monitoring"]
    ports = {port["port"] for rule in policy["egress"] for port in rule["ports"]}
    assert ports == {53, 5432, 6379, 443}, "DNS, PostgreSQL, Redis, object storage"


def test_the_autoscaler_and_the_disruption_budget_keep_one_pod_serving():
    hpa = one(OBJECTS, "HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["name"] == DEPLOYMENT["metadata"]["name"]
    assert hpa["minReplicas"] >= 2
    assert [m["resource"]["name"] for m in hpa["metrics"]] == ["cpu"]
    pdb = one(OBJECTS, "PodDisruptionBudget")["spec"]
    assert 1 <= pdb["minAvailable"] < hpa["minReplicas"]
    labels = DEPLOYMENT["spec"]["template"]["metadata"]["labels"]
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    service = one(OBJECTS, "Service")["spec"]
    assert service["selector"].items() <= labels.items()
    assert service["ports"][0]["targetPort"] == "http"


def test_a_decode_is_stopped_before_gunicorn_kills_its_worker():
    assert float(CONFIG["DECODE_WALL_SECONDS"]) < int(CONFIG["GUNICORN_TIMEOUT"])
    assert float(CONFIG["DECODE_CPU_SECONDS"]) <= float(CONFIG["DECODE_WALL_SECONDS"])


@pytest.mark.slow  # a child process imports the production settings: 8 s on an idle machine
def test_the_production_settings_accept_the_configmap_and_the_secrets_keys():
    """Every value parses as the app parses it: a typo here would crash every pod."""
    env = {"PATH": os.environ["PATH"], **CONFIG, **example_secret()["stringData"]}
    env["SECRET_KEY"] = "k" * 60  # the placeholder's shape is not what is checked here
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert env["DJANGO_SETTINGS_MODULE"] == "config.settings.production"


def test_the_trusted_proxies_pass_the_apps_own_checklist(settings):
    settings.TRUSTED_PROXIES = CONFIG["TRUSTED_PROXIES"].split(",")
    verdict = check_trusted_proxies()
    assert verdict.ok, verdict.detail
