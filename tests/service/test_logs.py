"""Log lines carry the request id and never a card number, phone or e-mail in clear."""
from __future__ import annotations

import logging

from service.logs import configure_logging


def test_pii_is_masked_and_request_id_present(app, capsys):
    configure_logging("INFO")
    log = logging.getLogger("kefu.test")
    with app.test_request_context("/", headers={"X-Request-ID": "req-42"}):
        app.preprocess_request()
        log.info("customer wrote: card %s, mail %s, phone %s", "4111 1111 1111 1111", "ann@example.com", "+1-555-123-4567")
    err = capsys.readouterr().err
    line = next(l for l in err.splitlines() if "customer wrote" in l)
    assert "[req-42]" in line
    assert "4111" not in line and "ann@example.com" not in line and "555-123" not in line
    assert "[CARD]" in line and "[EMAIL]" in line and "[PHONE]" in line


def test_json_logs(app, capsys):
    import json

    configure_logging("INFO", as_json=True)
    logging.getLogger("kefu.test").warning("mail me at bob@example.com")
    record = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert record["level"] == "WARNING" and "[EMAIL]" in record["message"] and record["request_id"] == "-"
    configure_logging("WARNING")
