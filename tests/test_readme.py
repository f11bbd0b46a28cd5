"""The README's curl examples, run as written against a real server."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.support.paths import ROOT
from tests.support.servers import run_cli, serve, tune_env

README = ROOT / "README.md"


def curl_examples() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S)
    return [
        line.strip()
        for block in blocks
        for line in block.splitlines()
        if line.strip().startswith("curl ")
    ]


def test_readme_has_curl_examples() -> None:
    assert len(curl_examples()) >= 5


def test_every_readme_curl_example_answers_as_documented(database_url: str, tmp_path: Path) -> None:
    env = tune_env(database_url, tmp_path)
    key = (
        run_cli(["keys", "create", "--name", "readme"], env, tmp_path)
        .stdout.strip()
        .splitlines()[-1]
    )
    with serve(env, tmp_path, port=None) as base:
        for example in curl_examples():
            command = example.replace("http://127.0.0.1:8000", base)
            result = subprocess.run(
                ["bash", "-c", command],
                env={**env, "TUNE_KEY": key},
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert result.returncode == 0, f"{example}\n{result.stderr}"
            body = json.loads(result.stdout)
            assert "error" not in body, example
