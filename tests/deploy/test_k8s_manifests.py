"""Static checks on the Kubernetes manifests in k8s/ and on the Dockerfile.

CI has no cluster, so these stand in for `kubectl apply --dry-run=client` and pin the deployment
contract: probes, resources, non-root execution, metrics scraping, and that no secret value is
ever committed to the repository.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
DOCKERFILE = ROOT / "Dockerfile"
KUSTOMIZATION = "kustomization.yaml"

NAMESPACE = "aurum"
SECRET_NAME = "aurum-control-secrets"
CONFIGMAP_NAME = "aurum-control-config"
APP_LABELS = {"app.kubernetes.io/name": "aurum-control", "app.kubernetes.io/part-of": "aurum"}
UID = 10001
TMP_MOUNT = "/tmp"  # noqa: S108 - a mount path to look for, not a file we create

SECRETISH = re.compile(r"SECRET|PASSWORD|TOKEN|API_KEY|DATABASE_URL|REDIS_URL", re.IGNORECASE)

# Environment variable -> (Secret key, optional?) that the Deployment must wire up.
SECRET_ENV = {
    "AURUM_DATABASE_URL": ("database-url", False),
    "AURUM_REDIS_URL": ("redis-url", False),
    "AURUM_JWT_SECRET": ("jwt-secret", True),
    "AURUM_FRED_API_KEY": ("fred-api-key", True),
    "AURUM_EIA_API_KEY": ("eia-api-key", True),
    "AURUM_NOAA_TOKEN": ("noaa-token", True),
}

Doc = dict[str, Any]


def _yaml_files() -> list[Path]:
    return sorted(K8S.glob("*.yaml"))


def _load(path: Path) -> list[Doc]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def _resources() -> list[Doc]:
    """Every Kubernetes object in k8s/ (the kustomization file is build config, not an object)."""
    return [doc for path in _yaml_files() if path.name != KUSTOMIZATION for doc in _load(path)]


def _one(kind: str) -> Doc:
    matches = [doc for doc in _resources() if doc.get("kind") == kind]
    assert len(matches) == 1, f"expected exactly one {kind} in k8s/, found {len(matches)}"
    return matches[0]


def _pod_spec(workload: Doc) -> Doc:
    return workload["spec"]["template"]["spec"]


def _containers(pod_spec: Doc) -> list[Doc]:
    return [*pod_spec.get("initContainers", []), *pod_spec["containers"]]


def _main_container(workload: Doc) -> Doc:
    return _pod_spec(workload)["containers"][0]


def _env_entries() -> Iterator[tuple[str, Doc]]:
    """(workload name, env entry) for every container of every pod-bearing object."""
    for doc in _resources():
        template = doc.get("spec", {}).get("template")
        if not template:
            continue
        for container in _containers(template["spec"]):
            for entry in container.get("env", []):
                yield doc["metadata"]["name"], entry


def _assert_non_root(workload: Doc) -> None:
    pod_spec = _pod_spec(workload)
    pod_ctx = pod_spec.get("securityContext", {})
    for container in _containers(pod_spec):
        ctx = container.get("securityContext", {})
        name = container["name"]
        assert ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")) is True, name
        assert ctx.get("runAsUser", pod_ctx.get("runAsUser")) == UID, name
        assert ctx.get("readOnlyRootFilesystem") is True, name
        assert ctx.get("allowPrivilegeEscalation") is False, name
        assert "ALL" in ctx.get("capabilities", {}).get("drop", []), name
        # A read-only root filesystem still needs a writable /tmp.
        tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == TMP_MOUNT]
        assert len(tmp) == 1, f"{name} has no /tmp mount"
        volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
        assert "emptyDir" in volumes[tmp[0]["name"]], f"{name}: /tmp is not an emptyDir"


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    return instructions


# --- every manifest ------------------------------------------------------------------------


def test_k8s_directory_has_manifests() -> None:
    """Guards against the parametrized tests below silently collecting nothing."""
    assert len(_yaml_files()) >= 2


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: p.name)
def test_every_document_is_applyable(path: Path) -> None:
    """kubectl refuses documents without apiVersion, kind and metadata.name."""
    docs = _load(path)
    assert docs, f"{path.name} is empty"
    for doc in docs:
        assert isinstance(doc, dict), path.name
        assert isinstance(doc.get("apiVersion"), str) and doc["apiVersion"], path.name
        assert isinstance(doc.get("kind"), str) and doc["kind"], path.name
        if path.name == KUSTOMIZATION:
            continue  # consumed by kustomize, never applied, so it needs no name
        assert isinstance(doc.get("metadata", {}).get("name"), str), path.name


def test_resources_are_namespaced_and_labelled() -> None:
    """Plain `kubectl apply -f k8s/` must land in the same namespace as `apply -k`."""
    for doc in _resources():
        meta = doc["metadata"]
        assert meta.get("namespace") == NAMESPACE, meta["name"]
        labels = meta.get("labels", {})
        assert APP_LABELS.items() <= labels.items(), f"{doc['kind']} {meta['name']}"


def test_kustomization_lists_exactly_the_other_manifests() -> None:
    """A manifest missing from the kustomization is never deployed."""
    (kustomization,) = _load(K8S / KUSTOMIZATION)
    assert kustomization["kind"] == "Kustomization"
    assert kustomization["namespace"] == NAMESPACE
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed)), "duplicate entries"
    others = {p.name for p in _yaml_files() if p.name != KUSTOMIZATION}
    assert set(listed) == others


# --- secrets ---------------------------------------------------------------------------------


def test_no_secret_values_in_k8s() -> None:
    """Secrets are created out of band (sealed-secrets / external-secrets), never committed."""
    for doc in _resources():
        if doc["kind"] == "Secret":
            assert not doc.get("data"), doc["metadata"]["name"]
            assert not doc.get("stringData"), doc["metadata"]["name"]


def test_secret_env_vars_come_from_the_app_secret() -> None:
    """Credentials reach pods only via secretKeyRef to the one out-of-band Secret."""
    for workload, entry in _env_entries():
        source = entry.get("valueFrom", {})
        where = f"{workload}: {entry['name']}"
        if "secretKeyRef" in source:
            assert source["secretKeyRef"]["name"] == SECRET_NAME, where
        if SECRETISH.search(entry["name"]):
            assert "value" not in entry, f"{where} has a literal value"
            assert "secretKeyRef" in source, where
    for doc in _resources():
        template = doc.get("spec", {}).get("template")
        for container in _containers(template["spec"]) if template else []:
            for ref in container.get("envFrom", []):
                if "secretRef" in ref:
                    assert ref["secretRef"]["name"] == SECRET_NAME, doc["metadata"]["name"]


def test_configmap_holds_no_secrets() -> None:
    """Anything secret-looking belongs in aurum-control-secrets, not the ConfigMap."""
    configmap = _one("ConfigMap")
    assert configmap["metadata"]["name"] == CONFIGMAP_NAME
    data = configmap["data"]
    assert not [key for key in data if SECRETISH.search(key)]
    assert data["AURUM_ENV"] == "prod"
    assert data["AURUM_MIGRATE_ON_START"] == "false"
    assert data["AURUM_PORT"] == "8080"
    assert all(isinstance(value, str) for value in data.values()), "ConfigMap values are strings"


# --- Deployment ------------------------------------------------------------------------------


def test_deployment_shape() -> None:
    """Three replicas of the pinned image, serving on the named http port."""
    deployment = _one("Deployment")
    assert deployment["spec"]["replicas"] == 3
    pod_spec = _pod_spec(deployment)
    assert pod_spec["terminationGracePeriodSeconds"] == 60
    container = _main_container(deployment)
    assert container["image"] == "aurum-control:0.1.0"
    assert {"name": "http", "containerPort": 8080} in [
        {"name": p.get("name"), "containerPort": p["containerPort"]} for p in container["ports"]
    ]


def test_deployment_probes() -> None:
    """Liveness must not depend on dependencies (/health); readiness is about this pod
    (/ready: 200 with dependencies reported, 503 while starting or draining), and its timeout
    leaves room for the dependency checks, which run in parallel within their own timeout."""
    container = _main_container(_one("Deployment"))
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    check_timeout = Settings.model_fields["ready_check_timeout_seconds"].default
    assert container["readinessProbe"]["timeoutSeconds"] > check_timeout
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if probe in container:
            assert container[probe]["httpGet"]["port"] in ("http", 8080), probe


def test_deployment_resources() -> None:
    """Capacity planning assumes exactly these requests and limits."""
    container = _main_container(_one("Deployment"))
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "512Mi"},
        "limits": {"cpu": "1000m", "memory": "2Gi"},
    }


def test_deployment_prometheus_annotations() -> None:
    """Annotation-based Prometheus scrapes find /metrics on the app port."""
    annotations = _one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8080"
    assert annotations["prometheus.io/path"] == "/metrics"


def test_deployment_runs_as_non_root() -> None:
    """Matches the Dockerfile's uid 10001 and keeps the container locked down."""
    _assert_non_root(_one("Deployment"))


def test_deployment_environment() -> None:
    """Config from the ConfigMap, credentials from the Secret, migrations left to the Job."""
    container = _main_container(_one("Deployment"))
    config_refs = [ref["configMapRef"]["name"] for ref in container["envFrom"]]
    assert CONFIGMAP_NAME in config_refs
    env = {entry["name"]: entry for entry in container["env"]}
    assert env["AURUM_MIGRATE_ON_START"]["value"] == "false"
    assert env["AURUM_REPLICA_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    for name, (key, optional) in SECRET_ENV.items():
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == (SECRET_NAME, key), name
        assert ref.get("optional", False) is optional, name


# --- Service, monitoring, disruption budget -------------------------------------------------


def test_service_exposes_http() -> None:
    """Clients and the ServiceMonitor address the port by name."""
    service = _one("Service")
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    ports = service["spec"]["ports"]
    assert {"name": "http", "port": 8080, "targetPort": "http"} in [
        {k: p.get(k) for k in ("name", "port", "targetPort")} for p in ports
    ]


def test_service_selects_only_server_pods() -> None:
    """Traffic must reach Deployment pods and never the migration Job's pods."""
    selector = _one("Service")["spec"]["selector"].items()
    server_labels = _one("Deployment")["spec"]["template"]["metadata"]["labels"].items()
    job_labels = _one("Job")["spec"]["template"]["metadata"]["labels"].items()
    assert selector <= server_labels
    assert not selector <= job_labels


def test_servicemonitor_scrapes_metrics() -> None:
    """The Prometheus Operator scrapes /metrics every 30s through the Service's http port."""
    monitor = _one("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    service_labels = _one("Service")["metadata"]["labels"].items()
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service_labels
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "http"
    assert endpoint["path"] == "/metrics"
    assert endpoint["interval"] == "30s"


def test_pod_disruption_budget_keeps_quorum() -> None:
    """Voluntary evictions never take the service below two replicas."""
    pdb = _one("PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 2
    pod_labels = _one("Deployment")["spec"]["template"]["metadata"]["labels"].items()
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels


# --- migration Job ---------------------------------------------------------------------------


def test_migration_job() -> None:
    """Migrations run once per rollout, before the Deployment syncs, as the app user."""
    job = _one("Job")
    assert job["metadata"]["name"] == "aurum-control-migrate"
    assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PreSync"
    assert job["spec"]["backoffLimit"] == 2
    assert job["spec"]["ttlSecondsAfterFinished"] == 3600
    pod_spec = _pod_spec(job)
    assert pod_spec["restartPolicy"] == "Never"
    container = _main_container(job)
    assert container["image"] == _main_container(_one("Deployment"))["image"]
    assert "migrate" in [*container.get("command", []), *container.get("args", [])]
    env = {entry["name"]: entry for entry in container["env"]}
    ref = env["AURUM_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert (ref["name"], ref["key"]) == (SECRET_NAME, "database-url")
    _assert_non_root(job)


# --- Dockerfile ------------------------------------------------------------------------------


def test_dockerfile_runs_as_non_root() -> None:
    """The last USER line decides who the container runs as; it must not be root."""
    users = [args for keyword, args in _dockerfile_instructions() if keyword == "USER"]
    assert users, "Dockerfile has no USER line"
    user = users[-1].split(":", 1)[0]
    assert user not in {"root", "0"}
    assert user in {"aurum", str(UID)}


def test_dockerfile_serves_on_8080_with_healthcheck() -> None:
    """The port and health endpoint the manifests rely on."""
    instructions = _dockerfile_instructions()
    exposed = [args.split() for keyword, args in instructions if keyword == "EXPOSE"]
    assert any(port.split("/")[0] == "8080" for ports in exposed for port in ports)
    healthchecks = [args for keyword, args in instructions if keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    assert "/health" in healthchecks[0]


def test_dockerfile_is_multi_stage_slim_without_secrets() -> None:
    """Build tooling stays out of the runtime image, and credentials stay out of both."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    instructions = _dockerfile_instructions()
    assert sum(keyword == "FROM" for keyword, _ in instructions) >= 2
    assert "python:3.11-slim" in text
    for keyword, args in instructions:
        if keyword in {"ENV", "ARG"}:
            assert not SECRETISH.search(args), f"{keyword} {args}"


def test_dockerfile_ships_migrations() -> None:
    """`aurum migrate` (the k8s Job) reads alembic.ini and migrations/ from the working dir."""
    copies = [args.split() for keyword, args in _dockerfile_instructions() if keyword == "COPY"]
    sources = {src.rstrip("/") for args in copies for src in args[:-1] if not src.startswith("--")}
    assert {"alembic.ini", "migrations"} <= sources


def test_the_configmap_and_secrets_make_valid_prod_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Deployment's settings pass the service's own start-up checks (prod rules)."""
    from app.settings import Settings

    for name, value in _one("ConfigMap")["data"].items():
        monkeypatch.setenv(name, str(value))
    secrets = {
        "AURUM_DATABASE_URL": "postgresql+psycopg://aurum:x@postgres:5432/aurum",
        "AURUM_REDIS_URL": "redis://redis:6379/0",
        "AURUM_JWT_SECRET": "k8s-test-secret-" + "0123456789abcdefghijklmnopqrstuvwxyz",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.env.value == "prod"
