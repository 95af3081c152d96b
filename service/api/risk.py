"""Fraud-risk scoring: one case, a batch, and a customer's history of scores."""
from __future__ import annotations

from flask import current_app, g

from features import fastjson
from features.errors import InvalidInput, NotFound
from features.ingest.events import to_naive_utc
from service.api.blueprint import Blueprint
from service.api.fastview import fast_json_view
from service.api.lane import LaneRoute
from service.auth import require_scope
from service.metrics import risk_scored
from service.pipelines.risk_challenge import challenger_report
from service.pipelines.risk_monitor import monitoring_report
from service.pipelines.risk_reviews import add_note, assign_case, claim_case, review_queue, scored_case
from service.schemas.risk import (
    AssignmentSchema,
    AssignRequestSchema,
    BacktestWindowSchema,
    ChallengerQuerySchema,
    ChallengerReportSchema,
    ClaimRequestSchema,
    ClaimResponseSchema,
    CustomerRiskQuerySchema,
    CustomerRiskResponseSchema,
    MonitoringQuerySchema,
    MonitoringResponseSchema,
    NoteRequestSchema,
    NoteSchema,
    OutcomeRequestSchema,
    OutcomeResponseSchema,
    ReviewQuerySchema,
    ReviewQueueResponseSchema,
    RiskBatchRequestSchema,
    RiskBatchResponseSchema,
    RiskListEntryRequestSchema,
    RiskListEntrySchema,
    RiskListPathSchema,
    RiskListsResponseSchema,
    RiskRuleBacktestRequestSchema,
    RiskRuleBacktestSchema,
    RiskRulePathSchema,
    RiskRuleRequestSchema,
    RiskRuleSchema,
    RiskRulesQuerySchema,
    RiskRulesResponseSchema,
    RiskScoreRecordSchema,
    RiskScoreRequestSchema,
    RiskScoreResponseSchema,
)

blp = Blueprint("risk", __name__, url_prefix="/v1", description="Fraud-risk scores with reasons and decisions")

# Schema instances, not classes: webargs builds a new schema object (deep-copying every field) per request when
# handed a class, which cost more than validating the body.
SCORE_REQUEST, BATCH_REQUEST = RiskScoreRequestSchema(), RiskBatchRequestSchema()
SCORE_RESPONSE, BATCH_RESPONSE = RiskScoreResponseSchema(), RiskBatchResponseSchema()


def _scorer():
    return current_app.extensions["kefu"].extras["risk"]


def _audit():
    """The worker's audit trail (its buffered writer: reads see this worker's pending rows)."""
    return current_app.extensions["kefu"].extras["risk_audit"]


def _notes():
    return current_app.extensions["kefu"].extras["risk_notes"]


def _hold_hours(body: dict) -> float:
    """The request's hold length in hours, or KEFU_RISK_HOLD_HOURS when it names none."""
    hours = body.get("hold_hours")
    return current_app.extensions["kefu"].settings.risk_hold_hours if hours is None else hours


def _as_response(result: dict):
    """The scorer's dict is already in the documented response shape (strings, floats, the schemas' key order),
    so it is sent as JSON directly rather than re-serialised field by field through marshmallow;
    tests/service/test_risk_api.py checks that it equals the schema's dump. orjson writes it when installed
    (features.fastjson), else Flask's JSON provider."""
    body = fastjson.dumps(result)
    if body is None:
        return current_app.json.response(result)
    return current_app.response_class(body + b"\n", mimetype="application/json")


def score_case(scorer, body: dict, request_id: str) -> dict:
    """The answer to a loaded POST /v1/risk/scores body (the view's work, without Flask: the lane runs it too)."""
    if "transaction" in body:
        tx = dict(body["transaction"])
        tx["ts"] = to_naive_utc(tx.pop("timestamp", None))
        tx.setdefault("transaction_id", body.get("transaction_id"))
        result = scorer.score_transaction(body["model"], body["customer_id"], tx, request_id=request_id)
    else:
        result = scorer.score(body["model"], body["features"], customer_id=body.get("customer_id"),
                              transaction_id=body.get("transaction_id"), request_id=request_id)
    risk_scored(body["model"], (result,))
    return result


def score_cases(scorer, body: dict, request_id: str) -> dict:
    """The answer to a loaded POST /v1/risk/scores/batch body."""
    result = scorer.score_batch(body["model"], body["cases"], request_id=request_id)
    risk_scored(body["model"], result["results"])
    return result


def lane_routes(state) -> list[LaneRoute]:
    """The score endpoints as service.api.lane answers them: the same schemas, scope and work as the views."""
    scorer = lambda: state.extras["risk"]  # noqa: E731 - looked up per request, as _scorer does
    return [
        LaneRoute("/v1/risk/scores", "risk", SCORE_REQUEST, lambda body, rid: score_case(scorer(), body, rid)),
        LaneRoute("/v1/risk/scores/batch", "risk", BATCH_REQUEST, lambda body, rid: score_cases(scorer(), body, rid)),
    ]


@blp.route("/risk/scores", methods=["POST"])
@fast_json_view
@require_scope("risk")
@blp.arguments(SCORE_REQUEST)
@blp.response(200, SCORE_RESPONSE)
@blp.alt_response(404, description="unknown model")
@blp.alt_response(503, description="the model exists but no version could be loaded")
def score(body: dict):
    """Score one case

    Give the model name and either the case's features (a table-trained model: the training file's columns,
    label excluded) or, for the behavioural `transactions` model, the customer_id and the payment: its
    velocity, novelty and history features are computed from the customer's stored events. The answer
    has a calibrated probability, a decision from the model's thresholds, and the features that pushed the
    score most, from LightGBM's own per-row contributions. Every score is stored for audit. Missing,
    unexpected or wrongly typed features → 422, never a guess.
    """
    return _as_response(score_case(_scorer(), body, g.request_id))


@blp.route("/risk/scores/batch", methods=["POST"])
@fast_json_view
@require_scope("risk")
@blp.arguments(BATCH_REQUEST)
@blp.response(200, BATCH_RESPONSE)
def score_batch(body: dict):
    """Score up to 1,000 cases with one model

    Every case is checked before any is scored; one bad case → 422 naming it, and nothing is stored.
    """
    return _as_response(score_cases(_scorer(), body, g.request_id))


@blp.route("/customers/<string:customer_id>/risk", methods=["GET"])
@require_scope("risk")
@blp.arguments(CustomerRiskQuerySchema, location="query")
@blp.response(200, CustomerRiskResponseSchema)
def customer_risk(query: dict, customer_id: str):
    """A customer's risk scores and decisions, newest first"""
    audit = _audit()
    return {"customer_id": customer_id, "scores": audit.customer_scores(customer_id, query["limit"])}


@blp.route("/risk/scores/<string:score_id>", methods=["GET"])
@require_scope("risk")
@blp.response(200, RiskScoreRecordSchema)
@blp.alt_response(404, description="no score with this id")
def get_score(score_id: str):
    """One scored case, whole

    Everything the audit trail keeps of the score: the model and version, the customer and transaction, the
    score, decision, reasons and the features as scored, the list entry that decided it if one did, the
    request id, and the outcome once an analyst records one. `shadow_of` names the case-deciding score when
    this is a challenger's shadow score (null otherwise); `shadows` lists the challenger shadow scores of the
    same case. A score answered a moment ago is readable at once.
    """
    return scored_case(_audit(), score_id, _notes())


@blp.route("/risk/reviews", methods=["GET"])
@require_scope("risk")
@blp.arguments(ReviewQuerySchema, location="query")
@blp.response(200, ReviewQueueResponseSchema)
def reviews(query: dict):
    """The analysts' review queue

    Case-deciding scores (a challenger's shadow scores decided nothing) whose decision is one of `decisions`
    (default review) and that have no outcome yet, of one `model` or all, created in the last `days` days.
    `order=score` (the default) puts the riskiest first, `order=newest` the latest; ties go latest-stored
    first. `open` counts every matching case; `next` is the cursor for the following page (pass it as
    `before`), null on the last. Paging visits every case once even while new cases arrive. Recording an
    outcome (POST /v1/risk/scores/<score_id>/outcome) takes a case out of the queue.
    """
    return review_queue(_audit(), decisions=query["decisions"], model=query.get("model"), days=query["days"],
                        order=query["order"], limit=query["limit"], before=query.get("before"),
                        assigned_to=query.get("assigned_to"), unassigned=query["unassigned"])


@blp.route("/risk/reviews/claim", methods=["POST"])
@require_scope("risk")
@blp.arguments(ClaimRequestSchema)
@blp.response(200, ClaimResponseSchema)
def claim_review(body: dict):
    """Take the next case of the review queue

    Gives `analyst` (default: the API key's id) the first case of the queue that nobody holds, in the queue's
    order (`order=score`: the riskiest; `newest`), with the same filters as `GET /v1/risk/reviews`
    (`decisions`, `model`, `days`), and answers it whole. Analysts claiming at the same time never get the same
    case. `case` is null when no unheld case is waiting; `unassigned` counts those left. A held case stays in the
    queue until its outcome is recorded (`?unassigned=true` leaves it out, `?assigned_to=NAME` lists one
    analyst's); `POST /v1/risk/scores/{score_id}/assign` hands it to someone else or releases it. A hold lapses
    at `hold_expires_at`, `hold_hours` after it was taken (default KEFU_RISK_HOLD_HOURS, 8; 0 never lapses): the
    case then goes to the next claim, so work an analyst left is not stranded; assigning the case again renews
    the hold. Each claim sets its own length (a night shift's claims may hold longer than a day shift's), and
    changing KEFU_RISK_HOLD_HOURS leaves the holds already taken as they were.
    """
    return claim_case(_audit(), analyst=body.get("analyst") or g.principal.key_id, decisions=body["decisions"],
                      model=body.get("model"), days=body["days"], order=body["order"], hold_hours=_hold_hours(body))


@blp.route("/risk/scores/<string:score_id>/assign", methods=["POST"])
@require_scope("risk")
@blp.arguments(AssignRequestSchema)
@blp.response(200, AssignmentSchema)
@blp.alt_response(404, description="no score with this id")
def assign_review(body: dict, score_id: str):
    """Give a case to an analyst, or release it

    `{"analyst": "dana"}` gives the case to dana, whoever held it, or renews dana's own hold, for `hold_hours`
    from now (default KEFU_RISK_HOLD_HOURS; 0 never lapses); `{"analyst": null}` puts it back among the unheld
    cases of the queue.
    """
    return assign_case(_audit(), score_id, body["analyst"], _hold_hours(body))


@blp.route("/risk/scores/<string:score_id>/outcome", methods=["POST"])
@require_scope("risk")
@blp.arguments(OutcomeRequestSchema)
@blp.response(200, OutcomeResponseSchema)
@blp.alt_response(404, description="no score with this id")
def record_outcome(body: dict, score_id: str):
    """Record what a scored case turned out to be

    A confirmed fraud, a chargeback, or a case cleared by an analyst. Recorded again, the latest wins. The
    monitoring report measures the model's realised fraud rate per decision and ROC-AUC from these. For the
    behavioural model, the payment the score was for (its transaction_id, a stored payment event of the same
    customer) takes the outcome as its fraud label, so the next training learns from it
    (`payment_labelled`).
    """
    result = _scorer().record_outcome(score_id, body["outcome"], by=g.principal.key_id)
    if body.get("note"):
        _notes().add(score_id, body["note"], g.principal.key_id)
    return result


@blp.route("/risk/scores/<string:score_id>/notes", methods=["POST"])
@require_scope("risk")
@blp.arguments(NoteRequestSchema)
@blp.response(201, NoteSchema)
@blp.alt_response(404, description="no score with this id")
def add_case_note(body: dict, score_id: str):
    """Leave a note on a case

    What was checked, who was called, why the outcome is what it is. Notes are never edited (write another);
    `GET /v1/risk/scores/{score_id}` lists them oldest first. `author` defaults to the API key's id.
    """
    return add_note(_audit(), _notes(), score_id, body["text"], body.get("author") or g.principal.key_id)


@blp.route("/risk/models/<string:name>/monitoring", methods=["GET"])
@require_scope("risk")
@blp.arguments(MonitoringQuerySchema, location="query")
@blp.response(200, MonitoringResponseSchema)
@blp.alt_response(404, description="unknown model or version")
def monitoring(query: dict, name: str):
    """Is the model still scoring the population it was trained on?

    Compares the version's scores of the last `days` days (the audit trail) with the distributions saved at
    training: the population stability index (PSI) of the score and of every feature, worst first, each with
    the bin that moved most; the alert rate served against the held-out rate at today's thresholds; volumes
    and rates per day; and, where outcomes were recorded, the realised fraud rate per decision and ROC-AUC.
    PSI below 0.1 reads as stable, 0.1-0.25 as worth watching, above 0.25 as drift.
    """
    state = current_app.extensions["kefu"]
    return monitoring_report(state.extras["registry"], state.extras["risk"], state.extras["risk_audit"], name,
                             version=query.get("version"), days=query["days"])


@blp.route("/risk/models/<string:name>/challenger", methods=["GET"])
@require_scope("risk")
@blp.arguments(ChallengerQuerySchema, location="query")
@blp.response(200, ChallengerReportSchema)
@blp.alt_response(404, description="unknown model or version, or no challenger")
def challenger(query: dict, name: str):
    """Is the challenger better than the active version on live traffic?

    Reads both versions' audited scores since the challenge began (at most `days` back). Per version: cases,
    decision rates and, on cases with a recorded outcome, the realised ROC-AUC, average precision and Brier
    score. In shadow mode, where both scored the same cases: how often their decisions agree and where they
    differ. Then the ROC-AUC difference with a 95 % bootstrap interval and a verdict. Set a challenger with
    PUT /v1/models/<name>/challenger (scope admin).
    """
    state = current_app.extensions["kefu"]
    return challenger_report(state.extras["registry"], state.extras["risk_audit"], name,
                             version=query.get("version"), days=query["days"])


LIST_PATH = RiskListPathSchema()


def _lists():
    return current_app.extensions["kefu"].extras["risk"].lists


def _list_key(field: str, value: str) -> tuple[str, str]:
    errors = LIST_PATH.validate({"field": field, "value": value})
    if errors:
        raise InvalidInput("The list entry's field or value is not valid.", errors=errors)
    return field, value


@blp.route("/risk/lists", methods=["GET"])
@require_scope("risk")
@blp.response(200, RiskListsResponseSchema)
def list_entries():
    """Every block and allow list entry, expired ones included"""
    return {"entries": _lists().store.entries()}


@blp.route("/risk/lists/<string:field>/<path:value>", methods=["PUT"])
@require_scope("risk")
@blp.arguments(RiskListEntryRequestSchema)
@blp.response(200, RiskListEntrySchema)
def put_list_entry(body: dict, field: str, value: str):
    """Block or allow a value of a case's attribute

    A case whose `field` has this value is declined (`block`) or approved (`allow`) whatever the model
    says; the model's score and reasons are still given, and `list_match` names the entry. `field` is
    `customer_id`, a payment's `device_id`, `ip` or `country`, or a table model's feature column. A block beats
    an allow. Applies at once in the worker that answers, in the others within 5 s.
    """
    field, value = _list_key(field, value)
    lists = _lists()
    expires = body.get("expires_at")
    row = lists.store.put(field, value, body["action"], reason=body.get("reason"), by=g.principal.key_id,
                          expires_at=to_naive_utc(expires) if expires is not None else None)
    lists.forget()
    return row


@blp.route("/risk/lists/<string:field>/<path:value>", methods=["DELETE"])
@require_scope("risk")
@blp.response(204)
@blp.alt_response(404, description="no such entry")
def delete_list_entry(field: str, value: str):
    """Remove a block or allow list entry"""
    field, value = _list_key(field, value)
    lists = _lists()
    if not lists.store.delete(field, value):
        raise NotFound(f"No list entry for {field} = '{value}'.")
    lists.forget()


RULE_PATH = RiskRulePathSchema()


def _rules():
    return current_app.extensions["kefu"].extras["risk"].rules


def _rule_name(name: str) -> str:
    errors = RULE_PATH.validate({"name": name})
    if errors:
        raise InvalidInput("The rule's name is not valid.", errors=errors)
    return name


@blp.route("/risk/rules", methods=["GET"])
@require_scope("risk")
@blp.arguments(RiskRulesQuerySchema, location="query")
@blp.response(200, RiskRulesResponseSchema)
def list_rules(query: dict):
    """Every decision rule (of one `model` when given), disabled and expired ones included"""
    return {"rules": _rules().store.rules(model=query.get("model"))}


@blp.route("/risk/rules/<string:name>", methods=["GET"])
@require_scope("risk")
@blp.response(200, RiskRuleSchema)
@blp.alt_response(404, description="no such rule")
def get_rule(name: str):
    """One decision rule"""
    rule = _rules().store.get(_rule_name(name))
    if rule is None:
        raise NotFound(f"No risk rule named '{name}'.")
    return rule


@blp.route("/risk/rules/<string:name>", methods=["PUT"])
@require_scope("risk")
@blp.arguments(RiskRuleRequestSchema)
@blp.response(200, RiskRuleSchema)
def put_rule(body: dict, name: str):
    """Create or replace a decision rule

    A rule escalates a model's cases that meet all of its conditions (`when`, 1-10 of
    `{"field", "op", "value"}`) to `review` or `decline`: the decision becomes the strictest of the model's and
    every matching rule's, never a lower one. `field` is a feature column of the model's active version (for
    the behavioural model also the payment's `amount`, `country`, `device_id`, `ip`) or `score`; `op` is `>`,
    `>=`, `<`, `<=` (numeric fields), `==`, `!=`, `in`, `not_in`. A missing value meets no condition, `!=` and
    `not_in` included. A block or allow list entry still decides alone. Every answer names the matching rules
    in `rule_matches`, and the audit row keeps them. Applies at once in the worker that answers, in the
    others within 5 s. An unknown model or field, an order op on a categorical field, or a text for a numeric
    field → 422 naming the condition (`errors.json.when.<index>`), as a malformed condition is.
    """
    name = _rule_name(name)
    _check_rule(body, "the rule was not saved")
    rules = _rules()
    expires = body.get("expires_at")
    row = rules.store.put(name, body["model"], body["when"], body["action"], reason=body.get("reason"),
                          enabled=body["enabled"], by=g.principal.key_id,
                          expires_at=to_naive_utc(expires) if expires is not None else None)
    rules.forget()
    return row


def _check_rule(body: dict, outcome: str) -> None:
    """422 naming the field when the rule's model is unknown or a condition does not fit the model's fields."""
    from service.pipelines.risk_rules import condition_errors

    try:
        fields = _scorer().rule_fields(body["model"])
    except NotFound as exc:
        raise InvalidInput("The rule's model does not exist.", errors={"json": {"model": [exc.message]}}) from exc
    errors = condition_errors(body["when"], fields)
    if errors:
        raise InvalidInput(f"Some conditions do not fit the model's fields; {outcome}.",
                           errors={"json": {"when": errors}})


def _backtest(rule: dict, window: dict) -> dict:
    from service.pipelines.risk_backtest import backtest_rule

    return backtest_rule(rule, _scorer().audit, days=window["days"], examples=window["examples"])


@blp.route("/risk/rules/backtest", methods=["POST"])
@require_scope("risk")
@blp.arguments(RiskRuleBacktestRequestSchema)
@blp.response(200, RiskRuleBacktestSchema)
def backtest_unsaved_rule(body: dict):
    """Back-test a rule without saving it

    What the rule (`model`, `when`, `action`, as for `PUT /v1/risk/rules/{name}`) would have done to the model's
    cases of the last `days` days (default 30; every version, challenger shadow scores left out), judged as a
    live score is on the features as stored, a behavioural payment's raw fields and the score: how many it
    matches, how many decisions it raises (`changed`; a list-decided case keeps its decision), the decisions
    before and after, and on cases with a recorded outcome its precision and recall. `missing` counts, per
    field, the cases that did not carry it; `by_day` is the daily series; `examples` the newest matched cases.
    The conditions are checked as for saving (422 naming the condition).
    """
    _check_rule(body, "nothing was tested")
    return _backtest(body, body)


@blp.route("/risk/rules/<string:name>/backtest", methods=["GET"])
@require_scope("risk")
@blp.arguments(BacktestWindowSchema, location="query")
@blp.response(200, RiskRuleBacktestSchema)
@blp.alt_response(404, description="no such rule")
def backtest_saved_rule(query: dict, name: str):
    """Back-test a saved rule, enabled or not

    The same report as `POST /v1/risk/rules/backtest`, for the rule saved under `name` (save it with
    `"enabled": false` to test it before it decides anything). For a rule that is already live, `matched_live`
    counts the cases it matched when they were scored.
    """
    rule = _rules().store.get(_rule_name(name))
    if rule is None:
        raise NotFound(f"No risk rule named '{name}'.")
    return _backtest(rule, query)


@blp.route("/risk/rules/<string:name>", methods=["DELETE"])
@require_scope("risk")
@blp.response(204)
@blp.alt_response(404, description="no such rule")
def delete_rule(name: str):
    """Remove a decision rule"""
    rules = _rules()
    if not rules.store.delete(_rule_name(name)):
        raise NotFound(f"No risk rule named '{name}'.")
    rules.forget()
