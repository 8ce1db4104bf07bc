"""JSON log lines and the untraced default."""

from __future__ import annotations

import logging
import subprocess
import sys

import orjson

from hostvitals.collector import tracing
from hostvitals.collector.logformat import JsonFormatter, formatter, uvicorn_log_config
from hostvitals.shared.masking import install_log_masking, register_secret


def test_json_line_has_the_fields_and_no_trace_id_while_tracing_is_off() -> None:
    record = logging.LogRecord("x.y", logging.ERROR, __file__, 1, "a %s b", ("c",), None)
    line = orjson.loads(JsonFormatter().format(record))
    assert line["level"] == "ERROR"
    assert line["logger"] == "x.y"
    assert line["message"] == "a c b"
    assert line["time"].endswith("+00:00")
    assert "trace_id" not in line


def test_json_line_carries_an_exception() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "m", (), sys.exc_info())
    assert "RuntimeError: boom" in orjson.loads(JsonFormatter().format(record))["exception"]


def test_masking_applies_to_json_lines() -> None:
    secret = "tok-0123456789abcdef-json"
    register_secret(secret)
    install_log_masking()
    record = logging.getLogger("t").makeRecord("t", logging.INFO, __file__, 1, secret, (), None)
    assert secret not in JsonFormatter().format(record)


def test_text_is_the_default_and_uvicorn_keeps_its_handlers_for_it() -> None:
    assert not isinstance(formatter("text"), JsonFormatter)
    assert uvicorn_log_config("text") is None
    config = uvicorn_log_config("json")
    assert config is not None
    assert config["loggers"]["uvicorn.access"] == {"handlers": [], "propagate": True}


def test_off_tracing_hands_out_nothing_and_does_not_import_the_sdk() -> None:
    assert not tracing.enabled()
    with tracing.span("x") as span:
        assert span is None
    assert tracing.current_trace_id() is None
    assert not tracing.start(None)
    code = (
        "import sys; from hostvitals.collector.app import create_app; "
        "print(any(m.startswith('opentelemetry.sdk') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
