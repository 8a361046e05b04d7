"""The `journey` command line: in-process with click's CliRunner, and `world serve` as a user runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import types

from click.testing import CliRunner

from ingestion.config import REPO_ROOT
from orchestration.cli import cli

from .conftest import SMALL


def test_help_lists_every_command():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("world", "run", "demo", "iot-bridge", "identity", "clv", "sentiment", "docs", "publish", "dashboard",
                    "webhooks", "deliver", "bench", "gx", "compare"):  # fmt: skip
        assert command in result.output
    result = CliRunner().invoke(cli, ["publish", "--help"])
    assert result.exit_code == 0 and "serving" in result.output and "postgres" in result.output
    result = CliRunner().invoke(cli, ["clv", "fit", "--help"])
    assert result.exit_code == 0 and "--calibration-end" in result.output and "--json" in result.output
    result = CliRunner().invoke(cli, ["world", "--help"])
    assert "generate" in result.output and "serve" in result.output
    result = CliRunner().invoke(cli, ["identity", "train", "--help"])
    assert result.exit_code == 0 and "--people" in result.output and "--output" in result.output
    result = CliRunner().invoke(cli, ["sentiment", "--help"])
    assert result.exit_code == 0 and "score" in result.output and "eval" in result.output


def test_docs_needs_a_warehouse_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("JW_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(cli, ["docs", "--help"])
    assert result.exit_code == 0 and "--serve" in result.output and "--port" in result.output
    result = CliRunner().invoke(cli, ["docs"])
    assert result.exit_code == 1 and "no warehouse at" in result.output and "journey run" in result.output
    assert not (tmp_path / "dbt_docs").exists()


def test_world_generate_writes_the_source_systems(tmp_path, monkeypatch):
    monkeypatch.setenv("JW_DATA_DIR", str(tmp_path))
    args = ["world", "generate", "--seed", str(SMALL["seed"]), "--people", str(SMALL["people"]), "--days", "21"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"300 people, 21 days, seed 7 -> {tmp_path / 'source_systems'}" in result.output
    assert (tmp_path / "source_systems" / "api").is_dir() and (tmp_path / "source_systems" / "ground_truth.parquet").exists()


def test_world_options_are_validated():
    result = CliRunner().invoke(cli, ["demo", "--days", "3"])
    assert result.exit_code == 2 and "--days" in result.output


def test_world_serve_needs_a_world(tmp_path, monkeypatch):
    monkeypatch.setenv("JW_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(cli, ["world", "serve", "--port", "0"])
    assert result.exit_code == 1 and "journey world generate" in result.output


def test_world_serve_serves_until_interrupted(tmp_path, small_world, monkeypatch):
    from ingestion.demo_world.writers import write_world

    write_world(small_world, tmp_path / "source_systems")
    server = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "world", "serve", "--port", "0"],
        cwd=REPO_ROOT, env={**os.environ, "JW_DATA_DIR": str(tmp_path)}, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        lines = []
        while not lines or not lines[-1].startswith("Ctrl-C"):
            lines.append(server.stdout.readline())
        exports = dict(line.strip().removeprefix("export ").split("=", 1) for line in lines if "export " in line)
        assert {"JW_SHOP_API_URL", "JW_ESP_API_URL", "JW_SOCIAL_API_URL"} <= set(exports)
        base = exports["JW_SHOP_API_URL"].removesuffix("/shop")
        assert lines[0].startswith(f"serving the demo source systems on {base}")
        assert exports["JW_ESP_API_URL"] == f"{base}/esp" and exports["JW_SOCIAL_API_URL"] == f"{base}/social"
        # the sources, pointed at it by these variables alone, load from it
        from ingestion import pipelines

        for name, value in exports.items():
            monkeypatch.setenv(name, value)
        with pipelines.source_endpoints(tmp_path / "source_systems") as endpoints:
            info = pipelines.load("esp", endpoints, tmp_path / "w.duckdb", tmp_path / "dlt")
        assert not info.has_failed_jobs
        assert endpoints.esp_api_url == f"{base}/esp"
    finally:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=30)
    assert server.returncode == 0 and "stopped." in out


def test_iot_bridge_passes_its_options(monkeypatch, tmp_path):
    calls = []
    fake = types.ModuleType("ingestion.iot_bridge")
    fake.run = lambda **kwargs: calls.append(kwargs)
    monkeypatch.setitem(sys.modules, "ingestion.iot_bridge", fake)
    args = ["iot-bridge", "--port", "1884", "--topic", "t/#", "--drop-dir", str(tmp_path), "--client-id", "c1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert calls == [{"host": "127.0.0.1", "port": 1884, "topic": "t/#", "drop_dir": tmp_path, "client_id": "c1"}]


def test_iot_bridge_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ingestion.iot_bridge", None)  # import fails
    result = CliRunner().invoke(cli, ["iot-bridge"])
    assert result.exit_code == 1 and "ingestion.iot_bridge" in result.output and "Traceback" not in result.output
