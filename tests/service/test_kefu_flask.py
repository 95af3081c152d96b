"""service.app.KefuFlask: ensure_sync gives what Flask's gives, remembering it for plain functions."""
from __future__ import annotations

import pytest
from flask import Flask

from service.app import KefuFlask


def plain():
    return "plain"


async def coroutine():
    return "async"


class Handler:
    def method(self):
        return "method"


def test_plain_functions_are_returned_as_is_and_remembered():
    app = KefuFlask(__name__)
    assert app.ensure_sync(plain) is plain
    assert app._kefu_sync == {plain: plain}
    assert app.ensure_sync(plain) is plain


def test_bound_methods_are_not_remembered():
    app = KefuFlask(__name__)
    handler = Handler()
    assert app.ensure_sync(handler.method)() == "method"
    assert app._kefu_sync == {}


def test_coroutine_functions_are_still_wrapped_like_flask():
    pytest.importorskip("asgiref")
    app, reference = KefuFlask(__name__), Flask(__name__)
    assert app.ensure_sync(coroutine)() == reference.ensure_sync(coroutine)() == "async"
    assert app.ensure_sync(coroutine) is app.ensure_sync(coroutine)


def test_views_and_hooks_answer_as_in_flask():
    app = KefuFlask(__name__)
    seen = []
    app.before_request(lambda: seen.append("before"))
    app.after_request(lambda r: (seen.append("after"), r)[1])
    app.get("/x")(plain)
    client = app.test_client()
    for _ in range(3):
        assert client.get("/x").get_data(as_text=True) == "plain"
    assert seen == ["before", "after"] * 3
