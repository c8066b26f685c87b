"""Run `promtool check rules` and `promtool test rules` against k8s/prometheus-rules.yaml.

The PrometheusRule's `spec` is a plain Prometheus rules file; it is written to a temporary
directory as `aurum-rules.yml` beside copies of tests/deploy/rules-tests/*.yml, whose
`rule_files` name it. Used by tests/deploy/test_alert_rules.py and by `make test`
(`python -m tests.deploy.promtool_rules`), which says so loudly when promtool is missing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "k8s" / "prometheus-rules.yaml"
TESTS = Path(__file__).resolve().parent / "rules-tests"
RULES_NAME = "aurum-rules.yml"
MISSING = (
    "promtool not found: the alert and recording rule tests (tests/deploy/rules-tests) did NOT "
    "run. Install it with Debian's prometheus package: apt-get install prometheus"
)


def promtool() -> str | None:
    return shutil.which("promtool")


def write_rules(directory: Path) -> Path:
    """The PrometheusRule's groups as a plain rules file in `directory`."""
    doc = yaml.safe_load(RULES.read_text())
    path = directory / RULES_NAME
    path.write_text(yaml.safe_dump({"groups": doc["spec"]["groups"]}, sort_keys=False))
    return path


def test_files() -> list[Path]:
    return sorted(TESTS.glob("*.yml"))


def run(binary: str) -> subprocess.CompletedProcess[str]:
    """`promtool check rules` then `promtool test rules` (all files); output of both."""
    with tempfile.TemporaryDirectory(prefix="aurum-rules-") as tmp:
        directory = Path(tmp)
        rules = write_rules(directory)
        copies = []
        for source in test_files():
            copies.append(directory / source.name)
            shutil.copyfile(source, copies[-1])
        check = subprocess.run(
            [binary, "check", "rules", str(rules)], capture_output=True, text=True, timeout=120
        )
        if check.returncode != 0:
            return check
        test = subprocess.run(
            [binary, "test", "rules", *map(str, copies)],
            capture_output=True, text=True, timeout=300, cwd=directory,
        )  # fmt: skip
        test.stdout = check.stdout + test.stdout
        return test


def main() -> int:
    binary = promtool()
    if binary is None:
        print(f"\n*** {MISSING} ***\n", file=sys.stderr)
        return 0
    result = run(binary)
    print(result.stdout, end="")
    print(result.stderr, end="", file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
