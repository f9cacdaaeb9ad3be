"""The artifacts the deploy tests read, parsed once per session: the Dockerfile's stages and the manifests."""
from __future__ import annotations

import pytest

from testkit.dockerfile import DOCKERFILE, dockerfile_stages, instrs
from tests.deploy.support import DEPLOY, load_one


@pytest.fixture(scope="session")
def stages() -> list[list[tuple[str, str]]]:
    return dockerfile_stages(DOCKERFILE.read_text())


@pytest.fixture(scope="session")
def final_stage(stages) -> list[tuple[str, str]]:
    return stages[-1]


@pytest.fixture(scope="session")
def image_port(final_stage) -> int:
    """The one port the image EXPOSEs: the port every manifest and gunicorn's bind must agree on."""
    [port] = " ".join(instrs(final_stage, "EXPOSE")).split()
    return int(port.split("/")[0])


@pytest.fixture(scope="session")
def image_uid(final_stage) -> int:
    """The numeric uid of the image's last USER, which the pod's securityContext must name."""
    users = instrs(final_stage, "USER")
    assert users, "final stage needs a USER"
    user = users[-1].split(":")[0]
    assert user.isdigit(), f"USER should be numeric so runAsNonRoot can verify it: {users[-1]}"
    return int(user)


@pytest.fixture(scope="session")
def deployment() -> dict:
    return load_one(DEPLOY / "deployment.yaml")


@pytest.fixture(scope="session")
def pod_spec(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]


@pytest.fixture(scope="session")
def container(pod_spec: dict) -> dict:
    containers = pod_spec["containers"]
    assert len(containers) == 1, "expected a single app container"
    return containers[0]


@pytest.fixture(scope="session")
def configmap() -> dict:
    return load_one(DEPLOY / "configmap.yaml")


@pytest.fixture(scope="session")
def placeholder_secrets() -> dict[str, str]:
    """The Secret's keys (secret.example.yaml), each with a placeholder value."""
    return {key: "test-placeholder" for key in load_one(DEPLOY / "secret.example.yaml")["stringData"]}
