"""`kefu models challenge` and `kefu models compare`, in-process against a temporary data folder."""
from __future__ import annotations

import json

from test_cli import env, run  # noqa: F401 - env is a fixture
from tests_helpers_risk import table


def test_challenge_score_and_compare_from_the_cli(env):
    from service.app import create_app

    data = env / "cases.csv"
    table(600).to_csv(data, index=False)
    assert run("train", "risk", "--name", "cards", "--data", str(data), "--label", "is_bad").exit_code == 0
    assert run("train", "risk", "--name", "cards", "--data", str(data), "--label", "is_bad", "--seed", "1",
               "--no-activate").exit_code == 0
    registry = create_app().extensions["kefu"].extras["registry"]
    champion, candidate = registry.current("cards").version, registry.versions("cards")[-1].version
    assert "no challenger" in run("models", "challenge", "cards").output
    missing_mode = run("models", "challenge", "cards", candidate)
    assert missing_mode.exit_code == 2 and "--mode" in missing_mode.output
    itself = run("models", "challenge", "cards", champion, "--mode", "shadow")
    assert itself.exit_code == 1 and "active version" in itself.output

    shown = run("models", "challenge", "cards", candidate, "--mode", "shadow")
    assert shown.exit_code == 0, shown.output
    assert f"{candidate} challenges {champion} (shadow, share 1" in shown.output
    listed = run("models", "list").output
    assert f"{candidate}" in listed and "[shadow challenger, share 1]" in listed

    state = create_app().extensions["kefu"]
    frame = table(300, seed=5)
    cases = [{"customer_id": f"c{i}", "features": {"amount": float(r.amount), "country": r.country,
                                                  "hour": int(r.hour)}} for i, r in enumerate(frame.itertuples())]
    results = state.extras["risk"].score_batch("cards", cases)["results"]
    for result, label in zip(results, frame["is_bad"]):
        state.extras["risk"].record_outcome(result["score_id"], bool(label))
    state.extras["risk_audit"].flush()

    compared = run("models", "compare", "cards", "--plot", str(env / "compare.png"))
    assert compared.exit_code == 0, compared.output
    assert f"plot: {env / 'compare.png'}" in compared.output and (env / "compare.png").read_bytes()[:4] == b"\x89PNG"
    assert "same cases: 300 (100.0% of the champion's)" in compared.output and "verdict: " in compared.output
    report = json.loads(run("models", "compare", "cards", "--json").output)
    assert report["paired"]["cases"] == 300 and [a["outcomes"] for a in report["arms"]] == [300, 300]

    assert f"challenge by {candidate} ended" in run("models", "challenge", "cards", "--stop").output
    assert run("models", "compare", "cards").exit_code == 1     # nothing running; a past one needs --version
    assert json.loads(run("models", "compare", "cards", "--version", candidate, "--json").output)["paired"]["cases"] == 300
