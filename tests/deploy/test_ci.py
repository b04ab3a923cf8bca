"""CI proves the image and the manifests before the suite, and ends with README's test command."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def ci_commands() -> list[str]:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    return [line.strip() for line in lines if line.startswith("make ")]


def test_ci_builds_and_smoke_tests_the_image_and_validates_k8s_before_the_suite():
    commands = ci_commands()
    assert commands[-1] == "make test", "README's test command comes last"
    assert commands.index("make image-test") < commands.index("make test")
    assert commands.index("make k8s-check") < commands.index("make test")


def test_the_make_targets_exist_and_call_the_scripts():
    makefile = (ROOT / "Makefile").read_text()
    assert "\nimage-test: " in makefile and "bash deploy/image/image-test.sh" in makefile
    assert "\nk8s-check: " in makefile
    assert "kubernetes-validate --strict" in makefile and "checkov" in makefile
