"""deploy/k8s against the Kubernetes schema (kubernetes-validate, offline, strict) and against
devtools.stack: a Deployment and Service per process, probes, ports, settings, HPAs, the
worker's replicas, the migration Job."""

from __future__ import annotations

import os

import kubernetes_validate
import pytest
import yaml

from devtools.stack import PROCESSES, SERVICES, service_client_id

from .helpers import (
    API_PROCESSES,
    K8S_DIR,
    WITH_DATABASE,
    WORKERS,
    check_command,
    check_env_names,
    expected_env,
    load_compose,
    load_k8s,
    same_value,
    settings_class,
)

NAMESPACE = "early-help"
# The oldest Kubernetes release supported here, and the newest schema bundled.
VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]
FILES = load_k8s()
DOCS = [d for docs in FILES.values() for d in docs]
NAMES = [p.name for p in PROCESSES]


def find(kind: str, name: str) -> dict:
    found = [d for d in DOCS if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def container(deployment: dict) -> dict:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def pod_env(deployment_or_job: dict) -> dict[str, str]:
    """The environment a pod gets: envFrom ConfigMaps/Secrets, then explicit env (value or secretKeyRef)."""
    c = container(deployment_or_job)
    env: dict[str, str] = {}
    for src in c.get("envFrom", []):
        if "configMapRef" in src:
            env.update(find("ConfigMap", src["configMapRef"]["name"])["data"])
        else:
            env.update(find("Secret", src["secretRef"]["name"])["stringData"])
    for item in c.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            data = find("Secret", ref["name"])["stringData"]
            assert ref["key"] in data, f"{item['name']}: Secret {ref['name']} has no key {ref['key']}"
            env[item["name"]] = data[ref["key"]]
    return env


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", list(FILES), ids=lambda p: p.name)
def test_manifests_are_valid_kubernetes(path, version):
    assert FILES[path], f"{path.name}: no documents"
    for doc in FILES[path]:
        kubernetes_validate.validate(doc, version, strict=True)


def test_validation_is_not_vacuous():
    bad = yaml.safe_load((K8S_DIR / "gateway.yaml").read_text().split("\n---\n")[0])
    bad["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pathh"] = "/x"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, VERSIONS[-1], strict=True)


def test_everything_is_in_the_namespace():
    assert find("Namespace", NAMESPACE)
    for doc in DOCS:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == NAMESPACE, f"{doc['kind']}/{doc['metadata']['name']}"


def test_kustomization_lists_everything_but_the_one_off_jobs():
    k = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    jobs = {p.name for p, docs in FILES.items() if any(d["kind"] == "Job" for d in docs)}
    assert jobs == {"migrate-job.yaml", "gateway-setup-job.yaml"}
    assert set(k["resources"]) == {p.name for p in FILES} - jobs
    images = {
        c["image"].split(":")[0]
        for d in DOCS
        if d["kind"] in ("Deployment", "Job")
        for c in container_list(d)
    }
    assert images <= {i["name"] for i in k["images"]}


def container_list(doc: dict) -> list[dict]:
    return doc["spec"]["template"]["spec"]["containers"]


@pytest.mark.parametrize("name", NAMES)
def test_deployment_and_service_per_process(name):
    proc = next(p for p in PROCESSES if p.name == name)
    dep = find("Deployment", name)
    c = container(dep)
    check_command(proc, c["command"])
    assert c["ports"] == [{"name": "http", "containerPort": proc.port, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["resources"]["requests"] and c["resources"]["limits"]
    # Same image as docker-compose builds for this process.
    compose_image = load_compose()["services"][name]["image"].split(":")[0]
    assert c["image"].split(":")[0] == compose_image
    svc = find("Service", name)
    assert svc["spec"]["ports"][0]["port"] == proc.port
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    assert dep["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


@pytest.mark.parametrize("name", [*NAMES, "migrate", "gateway-setup"])
def test_pods_are_locked_down(name):
    doc = find("Job" if name in ("migrate", "gateway-setup") else "Deployment", name)
    pod = doc["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    sc = container(doc)["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"] for m in container(doc).get("volumeMounts", [])}
    assert "/tmp" in mounts, "a writable /tmp on a read-only root filesystem"


@pytest.mark.parametrize("name", NAMES)
def test_settings_match_process_env(name):
    proc = next(p for p in PROCESSES if p.name == name)
    dep = find("Deployment", name)
    c = container(dep)
    config = {
        k
        for s in c["envFrom"]
        if "configMapRef" in s
        for k in find("ConfigMap", s["configMapRef"]["name"])["data"]
    }
    secret = {
        k
        for s in c["envFrom"]
        if "secretRef" in s
        for k in find("Secret", s["secretRef"]["name"])["stringData"]
    }
    assert not config & secret
    assert all(("SECRET" in k or "PASSWORD" in k or k.endswith("_DATABASE_URL")) for k in secret), secret
    assert not any(("SECRET" in k or "PASSWORD" in k or k.endswith("_DATABASE_URL")) for k in config), config
    check_env_names(proc, config | secret, "deploy/k8s")
    env = pod_env(dep)
    p = proc.env_prefix
    assert env[f"{p}ENVIRONMENT"] == "production"
    assert env[f"{p}GATEWAY_ISSUER"].startswith("https://")
    differ = {f"{p}SERVICE_CLIENT_SECRET", f"{p}DATABASE_URL", f"{p}GATEWAY_ISSUER", f"{p}ENVIRONMENT"}
    for key, value in expected_env(proc, pg_base="postgresql+asyncpg://x").items():
        if key not in differ:
            assert same_value(key, env[key], value), f"{name}: {key}={env[key]!r}, expected {value!r}"
    if proc.name != "gateway":
        assert env[f"{p}SERVICE_CLIENT_ID"] == service_client_id(proc.name.replace("-worker", ""))


def test_secrets_are_marked_placeholders():
    secrets = [d for d in DOCS if d["kind"] == "Secret"]
    assert secrets
    for s in secrets:
        assert "data" not in s, "stringData only, so placeholders stay readable"
        for key, value in s["stringData"].items():
            assert "CHANGE-ME" in value, f"{s['metadata']['name']}.{key} is not marked as a placeholder"


@pytest.mark.parametrize("proc", [p for p in PROCESSES if p.name != "gateway"], ids=lambda p: p.name)
def test_services_refuse_the_placeholder_secrets(proc, monkeypatch):
    """Applying secret.yaml unchanged cannot start a service with a guessable credential."""
    cls = settings_class(proc)
    if cls is None:
        pytest.skip(f"{proc.name}: config module not written yet")
    for key in [k for k in os.environ if k.startswith(proc.env_prefix)]:
        monkeypatch.delenv(key)
    env = pod_env(find("Deployment", proc.name))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValueError, match="development default"):
        cls()
    # With real values in the Secret, the same settings load.
    for key in env:
        if "SECRET" in key:
            monkeypatch.setenv(key, "a-real-random-value-9f8e7d")
    settings = cls()
    assert settings.port == proc.port
    assert settings.environment == "production"


@pytest.mark.parametrize("proc", API_PROCESSES, ids=lambda p: p.name)
def test_stateless_api_processes_autoscale(proc):
    assert proc.stateless
    hpa = find("HorizontalPodAutoscaler", proc.name)
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": proc.name}
    assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert "replicas" not in find("Deployment", proc.name)["spec"], "the HPA owns the replica count"
    assert find("PodDisruptionBudget", proc.name)["spec"]["minAvailable"] == 1


@pytest.mark.parametrize("proc", WORKERS, ids=lambda p: p.name)
def test_workers_run_several_replicas(proc):
    dep = find("Deployment", proc.name)
    assert dep["spec"]["replicas"] >= 2
    assert not [
        d for d in DOCS if d["kind"] == "HorizontalPodAutoscaler" and d["metadata"]["name"] == proc.name
    ]
    # Same image as the process it works for, another command.
    api = find("Deployment", proc.name.removesuffix("-worker"))
    assert container(dep)["image"] == container(api)["image"]


def test_migration_job_migrates_every_database():
    job = find("Job", "migrate")
    assert job["apiVersion"] == "batch/v1"
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    c = container(job)
    assert c["command"] == ["eh-migrate"]
    assert c["image"].split(":")[0] == load_compose()["services"]["migrate"]["image"].split(":")[0]
    env = pod_env(job)
    for proc in WITH_DATABASE:
        key = f"{proc.env_prefix}DATABASE_URL"
        # The very URL the process itself is given.
        assert env[key] == pod_env(find("Deployment", proc.name))[key]
    assert set(env) == {f"{p.env_prefix}DATABASE_URL" for p in WITH_DATABASE}, "database URLs only"


def test_gateway_setup_job_gives_the_gateway_the_services_secrets():
    job = find("Job", "gateway-setup")
    c = container(job)
    assert "python -m gateway.cli seed-service-clients" in c["command"][-1]
    assert "seed-demo" not in c["command"][-1]
    env = pod_env(job)
    for name, proc in SERVICES.items():
        assert (
            env[f"EH_GATEWAY_SVC_{name.upper()}_SECRET"]
            == pod_env(find("Deployment", name))[f"{proc.env_prefix}SERVICE_CLIENT_SECRET"]
        )
