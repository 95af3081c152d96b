"""Chat over HTTP on the demo shop (gunicorn, 2 sync workers), template generator.

    python bench/serve_chat.py [--customers 500] [--duration 15] [--connections 16]

Prepares the demo (`kefu demo --no-serve`: simulated shop, profiles, recommender, demo chat models), then loads
POST /v1/chat and POST /v1/chat/completions with wrk at 1 and --connections connections. Each request is the
first turn of a new conversation of a customer with orders, cycling over English and Chinese questions that are
not the knowledge base's own example questions. A turn embeds the message (E5), classifies intent and
sentiment, retrieves, reads the customer's orders and risk, fills the answer, checks it, and commits the
message, the reply and the conversation state before answering.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import print_table, write_result, wrk  # noqa: E402
from bench.ingest_http import wait_ready  # noqa: E402

QUESTIONS = [
    ("en", "Could you check where my parcel is right now?"),
    ("en", "How long do I have to send back something I bought?"),
    ("en", "My refund still hasn't shown up, when does it come?"),
    ("en", "What does express delivery cost?"),
    ("en", "I forgot my password and cannot log in"),
    ("en", "Any suggestions on what I could buy next?"),
    ("zh", "帮我看看包裹现在到哪里了"),
    ("zh", "买了的东西多久之内可以退？"),
    ("zh", "退款一直没到账，什么时候能到？"),
    ("zh", "忘记密码登录不了怎么办"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="kefu-bench-chat-")
    env = {**os.environ, "KEFU_DATA_DIR": data_dir, "KEFU_LOG_LEVEL": "WARNING", "OMP_NUM_THREADS": "1"}
    py = sys.executable

    def kefu(*a: str) -> str:
        return subprocess.run([py, "-m", "service.cli.main", *a], env=env, capture_output=True, text=True,
                              check=True).stdout

    kefu("demo", "--no-serve", "--customers", str(args.customers))
    key = kefu("keys", "create", "--scope", "chat").strip()
    os.environ.update(KEFU_DATA_DIR=data_dir, KEFU_LOG_LEVEL="WARNING")
    from service.app import create_app

    store = create_app().extensions["kefu"].store
    customers = store.load_customers()
    buyers = set(store.load_events(types=["purchase"]).customer_id)
    by_lang = {lang: [c for c, lg in zip(customers.customer_id, customers.language) if lg == lang and c in buyers][:100]
               for lang in ("en", "zh")}
    cycle = {lang: itertools.cycle(ids) for lang, ids in by_lang.items()}
    chat_bodies, completion_bodies = [], []
    for _ in range(20):
        for lang, question in QUESTIONS:
            customer = next(cycle[lang])
            chat_bodies.append(json.dumps({"customer_id": customer, "message": question}, ensure_ascii=False))
            completion_bodies.append(json.dumps({"model": "kefu", "user": customer,
                                                 "messages": [{"role": "user", "content": question}]}, ensure_ascii=False))
    result: dict = {"customers": args.customers, "generator": "template"}
    server = subprocess.Popen([py, "-m", "service.cli.main", "serve", "--port", "8795", "--workers", "2"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(8795, timeout=180)
        for c in (1, args.connections):
            result[f"chat_c{c}"] = wrk("http://127.0.0.1:8795/v1/chat", chat_bodies, key, c, args.duration)
        for c in (1, args.connections):
            result[f"completions_c{c}"] = wrk("http://127.0.0.1:8795/v1/chat/completions", completion_bodies, key, c,
                                              args.duration)
    finally:
        server.terminate(), server.wait()
    print_table([(k, json.dumps(v) if not isinstance(v, str) else v) for k, v in result.items()])
    print("written", write_result("serve_chat", result))


if __name__ == "__main__":
    main()
