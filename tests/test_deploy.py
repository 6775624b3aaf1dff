"""The container image and Kubernetes manifests agree with what `modelyard serve` does: the
options they pass parse, the probes point at the health endpoints, the user is the image's,
the shutdown budget covers the drain; and a ConfigMap volume's in-place update is served."""

from __future__ import annotations

import os
import re
from pathlib import Path

import click
import typer
import yaml

from cli.main import app
from gateway.catalog.snapshot import ServerSettings, canonical_json
from gateway.proxy.app import ProxyApp
from gateway.proxy.reload import Holder, SnapshotFile
from tests.conftest import client, poll
from tests.test_reload import USER, versioned
from tests.upstreams.server import serve_asgi

ROOT = Path(__file__).resolve().parents[1]
KUBE = ROOT / "deploy" / "kubernetes"


def proxy_container() -> tuple[dict, dict]:
    deployment = yaml.safe_load((KUBE / "base" / "deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    return pod, next(c for c in pod["containers"] if c["name"] == "modelyard")


def serve_options(args: list[str]) -> dict:
    """What `modelyard serve ARGS` would run with, parsed by the real command."""
    group = typer.main.get_command(app)
    command = group.commands["serve"]  # type: ignore[attr-defined]
    with click.Context(command) as ctx:
        command.parse_args(ctx, list(args))
        return ctx.params


def test_deployment_args_are_serve_options_and_probes_hit_health_endpoints():
    pod, container = proxy_container()
    assert container["args"][0] == "serve"
    options = serve_options(container["args"][1:])
    assert options["snapshot"] == "/etc/modelyard/snapshot.json" and options["port"] == 8080
    mount = next(m for m in container["volumeMounts"] if m["name"] == "snapshot")
    assert Path(mount["mountPath"]) == Path(options["snapshot"]).parent
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["ports"][0]["containerPort"] == options["port"]
    # SIGKILL must not come before the drain is done: grace, then the in-flight deadline.
    budget = options["shutdown_grace"] + ServerSettings().shutdown_deadline_s
    assert pod["terminationGracePeriodSeconds"] > budget
    readiness = container["readinessProbe"]
    assert options["shutdown_grace"] >= readiness["periodSeconds"] * readiness["failureThreshold"]


def test_container_runs_as_the_images_unprivileged_user_on_a_read_only_root():
    pod, container = proxy_container()
    dockerfile = (ROOT / "Dockerfile").read_text()
    user = re.findall(r"^USER (\d+):(\d+)$", dockerfile, re.M)
    assert user == [
        (str(pod["securityContext"]["runAsUser"]), str(pod["securityContext"]["runAsGroup"]))
    ]
    assert int(user[0][0]) != 0 and pod["securityContext"]["runAsNonRoot"]
    assert container["securityContext"]["readOnlyRootFilesystem"]
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert re.search(r"^EXPOSE (\d+)$", dockerfile, re.M)[1] == "8080"


def test_final_image_stage_installs_no_compiler():
    stages = re.split(r"^FROM ", (ROOT / "Dockerfile").read_text(), flags=re.M)
    final = stages[-1]
    assert "AS build" in stages[1] and "COPY --from=build" in final
    assert not re.search(r"apt-get|gcc|build-essential|pip install", final)


def test_redis_overlay_points_the_proxy_at_its_redis_service():
    overlay = KUBE / "overlays" / "redis"
    patch = yaml.safe_load((overlay / "state.yaml").read_text())
    env = patch["spec"]["template"]["spec"]["containers"][0]["env"]
    url = next(e["value"] for e in env if e["name"] == "MODELYARD_STATE")
    services = [
        d
        for d in yaml.safe_load_all((overlay / "redis.yaml").read_text())
        if d["kind"] == "Service"
    ]
    host, port = url.removeprefix("redis://").split("/")[0].split(":")
    assert [(s["metadata"]["name"], s["spec"]["ports"][0]["port"]) for s in services] == [
        (host, int(port))
    ]


def kubelet_update(volume: Path, data: bytes, generation: int) -> None:
    """What the kubelet's atomic writer does to a ConfigMap volume: a new timestamped
    directory, then the `..data` symlink swapped to it by rename."""
    target = volume / f"..2026_12_04_00_00_0{generation}.000000000"
    target.mkdir()
    (target / "snapshot.json").write_bytes(data)
    (volume / "..data_tmp").symlink_to(target.name)
    os.replace(volume / "..data_tmp", volume / "..data")
    if not (volume / "snapshot.json").is_symlink():
        (volume / "snapshot.json").symlink_to("..data/snapshot.json")


def test_configmap_volume_updated_in_place_is_served(tmp_path):
    kubelet_update(tmp_path, canonical_json(versioned(1)), 1)
    holder = Holder(SnapshotFile(tmp_path / "snapshot.json"), environ={})
    with serve_asgi(ProxyApp(holder)) as url:
        poll(lambda: holder.current is not None)
        kubelet_update(tmp_path, canonical_json(versioned(2)), 2)
        poll(
            lambda: (
                "up-v2"
                in client(url)
                .chat.completions.create(model="m", messages=USER)
                .choices[0]
                .message.content
            )
        )
        assert holder.reloads == 2
