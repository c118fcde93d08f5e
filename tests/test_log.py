import logging
import subprocess
import sys

import structlog
from structlog.testing import capture_logs

from agentkit._log import logger


def test_unconfigured_structlog_goes_to_stdlib_logging(caplog, capsys):
    """Without structlog configuration, events go to the `agentkit` stdlib logger, not stdout."""
    structlog.reset_defaults()
    with caplog.at_level(logging.INFO, logger="agentkit"):
        logger().info("agentkit.test", answer=42)
    assert capsys.readouterr().out == ""
    assert caplog.records[-1].getMessage() == "agentkit.test answer=42"


def test_disabled_levels_are_dropped_silently(caplog, capsys):
    """Python's default (WARNING) hides routine info events of an unconfigured library."""
    structlog.reset_defaults()
    with caplog.at_level(logging.WARNING, logger="agentkit"):
        logger().info("agentkit.quiet")
    assert not [r for r in caplog.records if r.name == "agentkit"]
    assert capsys.readouterr().out == ""


def test_configured_structlog_gets_the_events():
    """An application that configures structlog (here: capture_logs) receives the events."""
    with capture_logs() as logs:
        logger().info("agentkit.test", answer=42)
    assert logs == [{"event": "agentkit.test", "answer": 42, "log_level": "info"}]


def test_importing_agentkit_imports_neither_structlog_nor_jsonschema():
    """Both cost start-up time: structlog is used once the application imported it, jsonschema
    once a tool is made from a raw schema."""
    code = (
        "import sys, agentkit\n"
        "print(sorted(m for m in ('structlog', 'jsonschema') if m in sys.modules))\n"
        "agentkit.Tool.from_schema(name='t', parameters={'type': 'object'}, function=print)\n"
        "print('jsonschema' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split("\n")[:2] == ["[]", "True"]
