"""The IP validator's C fast path accepts exactly what ipaddress accepts."""
from __future__ import annotations

import ipaddress

import pytest
from marshmallow import ValidationError

from service.schemas.events import _ip

ADDRESSES = ["1.2.3.4", "0.0.0.0", "255.255.255.255", "203.0.113.5", "::1", "2001:db8::1", "::ffff:1.2.3.4",
             "fe80::1%eth0", "01.2.3.4", "1.2.3.04", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", " 1.2.3.4",
             "0x1.2.3.4", "", "abc", "1.2.3.4\x00", "١.2.3.4", "1..2.3"]


def _ipaddress_accepts(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


@pytest.mark.parametrize("value", ADDRESSES)
def test_same_verdict_as_ipaddress(value):
    try:
        _ip(value)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == _ipaddress_accepts(value)
