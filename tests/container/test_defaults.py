"""The image's production defaults, on a container of its own (no database needed): no API
documentation unless switched on, and a clear warning when no API key is configured."""

import unittest
import uuid

from tests.container.docker import IMAGE, docker, http_get, published_url, wait_for


class ProductionDefaults(unittest.TestCase):
    def setUp(self) -> None:
        self.name = f"smoke-defaults-{uuid.uuid4().hex[:8]}"
        self.addCleanup(docker, "rm", "--force", "--volumes", self.name, check=False)

    def start(self, *options: str) -> str:
        docker(
            "run", "--detach", "--name", self.name, "--read-only", "--tmpfs", "/tmp",
            "--publish", "127.0.0.1::8000", *options, IMAGE,
        )  # fmt: skip
        url = published_url(self.name)
        wait_for(lambda: http_get(f"{url}/health/live").status == 200, 30, "the app to answer")
        return url

    def test_docs_are_off_in_production_and_a_setting_turns_them_on(self) -> None:
        url = self.start()
        for path in ("/docs", "/redoc", "/openapi.json"):
            self.assertEqual(http_get(f"{url}{path}").status, 404, path)
        docker("rm", "--force", "--volumes", self.name)

        url = self.start("--env", "DOCS_ENABLED=true")
        self.assertEqual(http_get(f"{url}/docs").status, 200)
        self.assertEqual(http_get(f"{url}/openapi.json").status, 200)

    def test_no_api_key_configured_is_a_warning_at_start_up(self) -> None:
        self.start()
        logs = docker("logs", self.name)
        self.assertIn("no API keys are configured", logs.stdout + logs.stderr)
