"""Every image compose.yml runs is pinned by digest, and overridable by a NAME_IMAGE variable
that .ci/run exports to the local stand-in's tag (a digest cannot resolve offline)."""

import re

from tests.unit.conftest import PROJECT_ROOT

IMAGE_LINE = re.compile(r"^\s+image: (.+)$", re.MULTILINE)
OVERRIDABLE_PIN = re.compile(r"\$\{([A-Z]+_IMAGE):-([a-z/]+:[\w.-]+)@sha256:[0-9a-f]{64}\}")


def test_every_third_party_image_is_a_digest_pin_behind_a_variable_ci_exports() -> None:
    compose = (PROJECT_ROOT / "compose.yml").read_text()
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    images = [line for line in IMAGE_LINE.findall(compose) if "APP_IMAGE" not in line]

    pinned = {}
    for image in images:
        match = OVERRIDABLE_PIN.fullmatch(image.strip())
        assert match, f"not pinned by digest behind a NAME_IMAGE variable: {image}"
        pinned[match[1]] = match[2]
    assert {"NGINX_IMAGE", "POSTGRES_IMAGE", "REDIS_IMAGE", "PROMETHEUS_IMAGE"} <= set(pinned)
    for variable in ("NGINX_IMAGE", "POSTGRES_IMAGE", "REDIS_IMAGE"):
        assert f"export {variable}=${{{variable}:-{pinned[variable]}}}" in ci, variable


def test_dependabot_updates_the_compose_pins() -> None:
    dependabot = (PROJECT_ROOT / ".github" / "dependabot.yml").read_text()

    assert "package-ecosystem: docker-compose" in dependabot
