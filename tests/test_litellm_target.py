"""The benchmark's optional `litellm` target: its config, its command, its install."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from benchmarks.proxy import bench_catalog, litellm_target, passthrough, targets, upstream


def test_litellm_routes_each_bench_model_where_the_baseline_sends_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = "http://127.0.0.1:4321"
    monkeypatch.setenv("BENCH_UPSTREAM_URL", root)
    config = yaml.safe_load(litellm_target.write_config(tmp_path / "c.yaml", root).read_text())
    routes = {
        m["model_name"]: m["litellm_params"]["api_base"] + upstream.CHAT_PATH
        for m in config["model_list"]
    }
    assert routes == passthrough._routes()
    assert {m["litellm_params"]["model"].split("/")[0] for m in config["model_list"]} == {"openai"}
    assert {m["litellm_params"]["api_key"] for m in config["model_list"]} == {
        bench_catalog.UPSTREAM_KEY
    }
    assert config["general_settings"]["master_key"] == bench_catalog.CLIENT_KEY


def test_litellm_runs_one_worker_on_loopback_offline_and_only_when_named(tmp_path: Path) -> None:
    cmd = litellm_target.command(tmp_path / "litellm", tmp_path / "c.yaml", 4000)
    assert cmd[cmd.index("--num_workers") + 1] == "1"
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    env = litellm_target.server_env()
    assert env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    assert env["LITELLM_TELEMETRY_DISABLED"] == "True"
    assert "PYTHONPATH" not in env
    assert "litellm" in targets.TARGETS
    assert "litellm" not in targets.DEFAULT_TARGETS


def test_a_failed_install_says_why_in_one_line_and_is_tried_again_next_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELYARD_BENCH_CACHE", str(tmp_path))
    missing = tmp_path / "litellm-0-py3-none-any.whl"
    monkeypatch.setenv("BENCH_LITELLM_SPEC", str(missing))
    with pytest.raises(litellm_target.LiteLLMUnavailable) as failed:
        litellm_target.ensure_litellm()
    reason = str(failed.value)
    assert "\n" not in reason
    assert reason.startswith("install failed:") and str(missing) in reason
    assert "No such file" in reason  # pip's own error line, not its index warnings
    assert not (litellm_target.venv_dir() / ".modelyard-installed").exists()
