"""Cost of PII masking, which runs on every log line and chat message, and its behaviour on hostile input.

    python bench/pii_speed.py

Hostile inputs are doubled in size; time that grows about 2x per doubling is linear (no regex backtracking blow-up).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import print_table, write_result  # noqa: E402
from features.text.pii import mask_pii  # noqa: E402

TYPICAL = [
    "INFO 2026-05-03 12:30:45,123 request id=4f2a took 12.5 ms status=200",
    "我的订单O12345还没到，电话13800138000",
    "Where is my order? It was supposed to arrive yesterday.",
    "card 4111 1111 1111 1111, phone +1-555-123-4567, mail a.b@example.com",
]
HOSTILE = {"long local part": "a" * 25_000 + "@", "separated digits": "1 " * 12_500, "dashed digits": "1-" * 12_500 + "x",
           "plus-one runs": "+1 " * 10_000, "at signs": "a@" * 12_500}


def main() -> None:
    lines = TYPICAL * 5000
    started = time.perf_counter()
    for line in lines:
        mask_pii(line)
    per_line_us = (time.perf_counter() - started) / len(lines) * 1e6
    rows = [("typical line, µs", f"{per_line_us:.1f}")]
    result = {"typical_line_us": round(per_line_us, 2), "hostile": {}}
    for name, text in HOSTILE.items():
        times = []
        for factor in (1, 2, 4):
            sample = text * factor
            t = time.perf_counter()
            mask_pii(sample)
            times.append(time.perf_counter() - t)
        growth = times[2] / max(times[0], 1e-9)
        result["hostile"][name] = {"seconds_1x_2x_4x": [round(x, 4) for x in times], "growth_4x": round(growth, 1)}
        rows.append((f"{name}: s at 1x/2x/4x", " / ".join(f"{x:.4f}" for x in times) + f"  (x{growth:.1f} for 4x input)"))
    print_table(rows)
    print("written", write_result("pii_speed", result))


if __name__ == "__main__":
    main()
