"""Wire contract of risk scoring and model management."""
from __future__ import annotations

import math
from datetime import timezone

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from models.challenger import MODES
from service.schemas.events import ID, StrictSchema, _ip, flat_dict

NAME = validate.Regexp(r"^[a-z0-9][a-z0-9_.-]{0,63}$", error="Model names are lower-case letters, digits, '_', '.', '-'.")


_flat = flat_dict("feature", 500)


class TransactionSchema(StrictSchema):
    """A payment to score with the behavioural model; its other features come from the customer's history."""

    transaction_id = fields.String(validate=ID)
    amount = fields.Float(required=True, validate=validate.Range(min=0, max=1e9), allow_nan=False)
    currency = fields.String(validate=validate.Regexp(r"^[A-Z]{3}$"))
    timestamp = fields.AwareDateTime(default_timezone=timezone.utc, metadata={"description": "Defaults to now."})
    device_id = fields.String(validate=ID)
    ip = fields.String(validate=_ip)
    country = fields.String(validate=validate.Regexp(r"^[A-Z]{2}$"))


class RiskScoreRequestSchema(StrictSchema):
    model = fields.String(required=True, validate=NAME, metadata={"description": "A trained risk model's name."})
    # no keys=fields.String(): JSON object keys are always strings, and deserialising 23 of them through a field cost
    # more than the rest of the request's validation (the OpenAPI document is the same either way)
    features = fields.Dict(
        validate=_flat,
        metadata={"description": "For a table-trained model: column → value, the training file's columns (label excluded)."},
    )
    transaction = fields.Nested(TransactionSchema, metadata={"description": "For the behavioural model (with customer_id)."})
    customer_id = fields.String(validate=ID, metadata={"description": "Links the score to a customer's risk history."})
    transaction_id = fields.String(validate=ID)

    @validates_schema
    def _one_input(self, data: dict, **_kwargs) -> None:
        if ("features" in data) == ("transaction" in data):
            raise ValidationError("Send either 'features' (table model) or 'transaction' (behavioural model).", "_schema")
        if "transaction" in data and "customer_id" not in data:
            raise ValidationError("A transaction is scored against a customer's history: give customer_id.", "customer_id")


class ReasonSchema(Schema):
    feature = fields.String()
    value = fields.Raw(allow_none=True)
    contribution = fields.Float(metadata={"description": "Log-odds contribution (LightGBM's per-row SHAP value)."})
    direction = fields.String(metadata={"description": "increases_risk or decreases_risk"})


class ThresholdsSchema(StrictSchema):
    review = fields.Float(required=True, validate=validate.Range(min=0, max=1))
    decline = fields.Float(required=True, validate=validate.Range(min=0, max=1))

    @validates_schema
    def _ordered(self, data: dict, **_kwargs) -> None:
        if data["review"] > data["decline"]:
            raise ValidationError("review must not exceed decline.", "decline")


class ListMatchSchema(Schema):
    field = fields.String()
    value = fields.String()
    action = fields.String(metadata={"description": "block (the case is declined) or allow (approved)"})
    reason = fields.String(allow_none=True)


class RuleMatchSchema(Schema):
    name = fields.String()
    action = fields.String(metadata={"description": "review or decline"})
    reason = fields.String(allow_none=True)


HOLD_DOC = ("When the analyst's hold lapses (the claim's or assignment's `hold_hours` after it, by default "
            "KEFU_RISK_HOLD_HOURS) and another claim may take the case; null while nobody holds it, or when the hold "
            "never lapses. Assigning it again renews it.")
RULE_MATCHES_DOC = ("The enabled decision rules whose every condition the case met (empty when none): the decision "
                    "is the strictest of the model's and theirs, unless a list entry decided (GET /v1/risk/rules).")


def hold_hours_field() -> fields.Float:
    """The optional hold length of a claim or an assignment (a new field object for each schema)."""
    return fields.Float(validate=validate.Range(min=0, max=720), metadata={
        "description": "How many hours the analyst holds the case before another claim may take it; 0 holds it "
                       "until it is released or given to someone else. Default KEFU_RISK_HOLD_HOURS (8)."})


class RiskScoreResponseSchema(Schema):
    score_id = fields.String()
    model = fields.String()
    model_version = fields.String()
    score = fields.Float(metadata={"description": "Calibrated probability of the positive (risky) class."})
    decision = fields.String(metadata={"description": "approve, review or decline"})
    reasons = fields.List(fields.Nested(ReasonSchema))
    thresholds = fields.Nested(ThresholdsSchema)
    customer_id = fields.String(allow_none=True)
    transaction_id = fields.String(allow_none=True)
    list_match = fields.Nested(ListMatchSchema, allow_none=True, metadata={
        "description": "The block or allow list entry that decided the case (the model's score and reasons are "
                       "still given), or null."})
    rule_matches = fields.List(fields.Nested(RuleMatchSchema), metadata={"description": RULE_MATCHES_DOC})


class RiskCaseSchema(StrictSchema):
    case_id = fields.String(validate=ID)
    customer_id = fields.String(validate=ID)
    features = fields.Dict(required=True, validate=_flat)


class RiskBatchRequestSchema(StrictSchema):
    model = fields.String(required=True, validate=NAME)
    cases = fields.List(fields.Nested(RiskCaseSchema), required=True, validate=validate.Length(min=1, max=1000))


class RiskBatchResultSchema(Schema):
    case_id = fields.String(allow_none=True)
    customer_id = fields.String(allow_none=True)
    score_id = fields.String()
    model_version = fields.String(metadata={
        "description": "The version that scored the case: the batch's model_version, or its challenger's in a split "
                       "test (PUT /v1/models/<name>/challenger)."})
    score = fields.Float()
    decision = fields.String()
    reasons = fields.List(fields.Nested(ReasonSchema))
    list_match = fields.Nested(ListMatchSchema, allow_none=True)
    rule_matches = fields.List(fields.Nested(RuleMatchSchema), metadata={"description": RULE_MATCHES_DOC})


class RiskBatchResponseSchema(Schema):
    model = fields.String()
    model_version = fields.String()
    thresholds = fields.Nested(ThresholdsSchema)
    results = fields.List(fields.Nested(RiskBatchResultSchema))


class CustomerRiskEntrySchema(Schema):
    score_id = fields.String()
    model = fields.String()
    model_version = fields.String()
    transaction_id = fields.String(allow_none=True)
    score = fields.Float()
    decision = fields.String()
    reasons = fields.List(fields.Nested(ReasonSchema))
    list_match = fields.Nested(ListMatchSchema, allow_none=True)
    rule_matches = fields.List(fields.Nested(RuleMatchSchema))
    created_at = fields.DateTime()


class CustomerRiskResponseSchema(Schema):
    customer_id = fields.String()
    scores = fields.List(fields.Nested(CustomerRiskEntrySchema))


class CustomerRiskQuerySchema(StrictSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=1000))


DECISIONS = ("approve", "review", "decline")
ANALYST = validate.Length(min=1, max=200)
NOTE = validate.Length(min=1, max=2000)


class SplitList(fields.List):
    """A repeatable query parameter that also takes comma-separated values: ``?decisions=review&decisions=decline``
    and ``?decisions=review,decline`` load alike (webargs reads every value of a ``fields.List`` in the query)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = [value]
        if isinstance(value, (list, tuple)):
            value = [part.strip() for item in value
                     for part in (item.split(",") if isinstance(item, str) else [item])]
        return super()._deserialize(value, attr, data, **kwargs)


class ShadowScoreSchema(Schema):
    score_id = fields.String()
    model_version = fields.String()
    score = fields.Float()
    decision = fields.String()


class ScoredCaseSchema(Schema):
    """A stored score as the audit trail gives it back: what every view of one shows."""

    score_id = fields.String()
    model = fields.String()
    model_version = fields.String()
    customer_id = fields.String(allow_none=True)
    transaction_id = fields.String(allow_none=True)
    score = fields.Float()
    decision = fields.String(metadata={"description": "approve, review or decline"})
    reasons = fields.List(fields.Nested(ReasonSchema), allow_none=True)
    list_match = fields.Nested(ListMatchSchema, allow_none=True)
    rule_matches = fields.List(fields.Nested(RuleMatchSchema), metadata={"description": RULE_MATCHES_DOC})
    assigned_to = fields.String(allow_none=True, metadata={
        "description": "The analyst who holds the case (claimed or given it); null while nobody does."})
    assigned_at = fields.DateTime(allow_none=True)
    hold_expires_at = fields.DateTime(allow_none=True, metadata={"description": HOLD_DOC})


class RiskScoreRecordSchema(ScoredCaseSchema):
    features = fields.Dict(allow_none=True, metadata={"description": "The case's features as stored for audit."})
    payment = fields.Dict(allow_none=True, metadata={
        "description": "A behavioural payment's raw fields as sent (amount, country, device_id, ip: those it "
                       "carried), which decision rules test next to the features; null for a table model."})
    request_id = fields.String(allow_none=True)
    created_at = fields.DateTime()
    outcome = fields.Boolean(allow_none=True, metadata={"description": "null until an analyst records one."})
    outcome_at = fields.DateTime(allow_none=True)
    outcome_by = fields.String(allow_none=True)
    shadow_of = fields.String(allow_none=True, metadata={
        "description": "For a challenger's shadow score: the score_id of the score that decided the case; null "
                       "for a case-deciding score."})
    shadows = fields.List(fields.Nested(ShadowScoreSchema), metadata={
        "description": "Challenger shadow scores of the same case (empty when none), oldest first."})
    notes = fields.List(fields.Nested(lambda: NoteSchema()), metadata={
        "description": "Analysts' notes on the case, oldest first."})


class ReviewQuerySchema(StrictSchema):
    decisions = SplitList(fields.String(validate=validate.OneOf(DECISIONS)), load_default=lambda: ["review"],
                          validate=validate.Length(min=1, max=len(DECISIONS) * 4), metadata={
                              "description": "Decisions to queue: repeat the parameter or separate with commas "
                                             "(default review)."})
    model = fields.String(validate=NAME, metadata={"description": "One model's cases; default every model's."})
    days = fields.Integer(load_default=7, validate=validate.Range(min=1, max=366),
                          metadata={"description": "Cases created in the last this many days."})
    order = fields.String(load_default="score", validate=validate.OneOf(["score", "newest"]), metadata={
        "description": "score: highest score first (the riskiest first); newest: latest first. Ties by the "
                       "row's storage order, latest first."})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    before = fields.String(validate=validate.Length(min=1, max=512), metadata={
        "description": "The previous page's `next`, with the same order: the page continues after it. The "
                       "first page's window (its `since`) holds for the pages that follow."})
    assigned_to = fields.String(validate=ANALYST, metadata={"description": "Only the cases this analyst holds."})
    unassigned = fields.Boolean(load_default=False, metadata={
        "description": "Only the cases nobody holds (a lapsed hold counts as nobody's)."})

    @validates_schema
    def _one_assignment_filter(self, data: dict, **_kwargs) -> None:
        if data.get("unassigned") and data.get("assigned_to") is not None:
            raise ValidationError("Ask for one analyst's cases or for unassigned ones, not both.", "unassigned")


class ClaimRequestSchema(StrictSchema):
    analyst = fields.String(validate=ANALYST, metadata={
        "description": "Who takes the case; default the API key's id."})
    decisions = fields.List(fields.String(validate=validate.OneOf(DECISIONS)), load_default=lambda: ["review"],
                            validate=validate.Length(min=1, max=len(DECISIONS)))
    model = fields.String(validate=NAME, metadata={"description": "One model's cases; default every model's."})
    days = fields.Integer(load_default=7, validate=validate.Range(min=1, max=366))
    order = fields.String(load_default="score", validate=validate.OneOf(["score", "newest"]))
    hold_hours = hold_hours_field()


class AssignRequestSchema(StrictSchema):
    analyst = fields.String(required=True, allow_none=True, validate=ANALYST, metadata={
        "description": "Who gets the case (whoever held it); null releases it to the queue."})
    hold_hours = hold_hours_field()


class AssignmentSchema(Schema):
    score_id = fields.String()
    assigned_to = fields.String(allow_none=True)
    assigned_at = fields.DateTime(allow_none=True)
    hold_expires_at = fields.DateTime(allow_none=True, metadata={"description": HOLD_DOC})


class ReviewEntrySchema(ScoredCaseSchema):
    created_at = fields.DateTime()


class ClaimResponseSchema(Schema):
    case = fields.Nested(lambda: RiskScoreRecordSchema(), allow_none=True, metadata={
        "description": "The case now held by the analyst, whole; null when no unheld case is waiting."})
    unassigned = fields.Integer(metadata={"description": "Cases of the same queue that nobody holds now."})


class ReviewQueueResponseSchema(Schema):
    order = fields.String()
    since = fields.DateTime(metadata={"description": "The window's start (UTC): cases created since."})
    open = fields.Integer(metadata={"description": "How many cases match, on every page."})
    next = fields.String(allow_none=True, metadata={
        "description": "Pass as `before` for the next page; null on the last page."})
    entries = fields.List(fields.Nested(ReviewEntrySchema))


class ModelVersionSchema(Schema):
    version = fields.String()
    created_at = fields.String()
    metrics = fields.Dict()
    active = fields.Boolean()
    refreshed_from = fields.String(allow_none=True, metadata={
        "description": "The version whose ranker this one keeps over refitted candidate tables "
                       "(`kefu train recommender --refresh`); null for a trained version."})


class ChallengerSchema(Schema):
    version = fields.String()
    mode = fields.String(metadata={"description": "shadow (scores are only stored) or split (decides its share)"})
    share = fields.Float()
    since = fields.String()
    by = fields.String(allow_none=True)
    reason = fields.String()
    serving = fields.Dict(allow_none=True, metadata={"description": "This worker's load state of the challenger."})


class ModelSummarySchema(Schema):
    name = fields.String()
    kind = fields.String(allow_none=True)
    current_version = fields.String(allow_none=True)
    serving = fields.Dict(metadata={"description": "This worker's load state: ready/missing/failed, version, error."})
    thresholds = fields.Nested(ThresholdsSchema, allow_none=True)
    challenger = fields.Nested(ChallengerSchema, allow_none=True, metadata={
        "description": "The version challenging the active one on live traffic, or null."})
    versions = fields.List(fields.Nested(ModelVersionSchema))


class ModelListResponseSchema(Schema):
    models = fields.List(fields.Nested(ModelSummarySchema))


class ActivateRequestSchema(StrictSchema):
    version = fields.String(required=True, validate=validate.Length(min=1, max=64))
    reason = fields.String(validate=validate.Length(max=500))


class RollbackRequestSchema(StrictSchema):
    reason = fields.String(validate=validate.Length(max=500))


class ChallengerRequestSchema(StrictSchema):
    version = fields.String(required=True, validate=validate.Length(min=1, max=64))
    mode = fields.String(required=True, validate=validate.OneOf(MODES), metadata={
        "description": "shadow: the challenger scores cases into the audit trail only (risk models); split: it "
                       "decides its share of customers (an A/B test; risk and recommendation models)."})
    share = fields.Float(validate=validate.Range(min=0, max=1, min_inclusive=False), metadata={
        "description": "Share of customers the challenger takes, drawn by a hash of the customer (default: 1.0 "
                       "in shadow, 0.1 in split)."})
    reason = fields.String(validate=validate.Length(max=500))


class MonitoringQuerySchema(StrictSchema):
    days = fields.Integer(load_default=7, validate=validate.Range(min=1, max=366),
                          metadata={"description": "How many days back from now to read scores."})
    version = fields.String(validate=validate.Length(min=1, max=64),
                            metadata={"description": "A model version; default the active one."})


class MonitoringDaySchema(Schema):
    date = fields.String()
    scores = fields.Integer()
    mean_score = fields.Float()
    review_rate = fields.Float()
    decline_rate = fields.Float()


class MonitoringShiftSchema(Schema):
    bin = fields.String()
    expected = fields.Float()
    served = fields.Float()


class MonitoringFeatureSchema(Schema):
    feature = fields.String()
    psi = fields.Float()
    status = fields.String()
    largest_shift = fields.Nested(MonitoringShiftSchema)


class AlertRateSchema(Schema):
    served = fields.Float(metadata={"description": "Share of the model's own decisions that were review or "
                                                   "decline (cases a list decided or a rule matched left out)."})
    decline_served = fields.Float()
    expected = fields.Float(metadata={"description": "Share of held-out training scores at or above today's "
                                                     "review threshold."})
    decline_expected = fields.Float()


class DecisionOutcomeSchema(Schema):
    labelled = fields.Integer()
    positives = fields.Integer()
    positive_rate = fields.Float(allow_none=True)


class MonitoringOutcomesSchema(Schema):
    labelled = fields.Integer()
    positives = fields.Integer()
    roc_auc = fields.Float(allow_none=True)
    trained_roc_auc = fields.Float(allow_none=True)
    by_decision = fields.Dict(keys=fields.String(), values=fields.Nested(DecisionOutcomeSchema))


class MonitoringResponseSchema(Schema):
    model = fields.String()
    model_version = fields.String()
    since = fields.DateTime()
    until = fields.DateTime()
    days = fields.Integer()
    truncated = fields.Boolean(metadata={"description": "True when the window held more scores than were read "
                                                        "(the newest 50,000)."})
    status = fields.String(metadata={"description": "stable (every PSI < 0.1), watch (< 0.25), drift, "
                                                    "too_few_scores (< 100), no_traffic, or no_reference (a "
                                                    "version trained before references were saved)."})
    scores = fields.Integer()
    list_decided = fields.Integer(metadata={"description": "Scores whose decision a block or allow list entry "
                                                           "made; they count in the drift, not in the alert rates."})
    rule_matched = fields.Integer(metadata={"description": "Scores (no list decided) that a decision rule matched; "
                                                           "they count in the drift, not in the alert rates."})
    score_psi = fields.Float(allow_none=True)
    features = fields.List(fields.Nested(MonitoringFeatureSchema))
    alert_rate = fields.Nested(AlertRateSchema)
    outcomes = fields.Nested(MonitoringOutcomesSchema, allow_none=True)
    thresholds = fields.Nested(ThresholdsSchema)
    daily = fields.List(fields.Nested(MonitoringDaySchema))
    note = fields.String()


class JsonBoolean(fields.Boolean):
    """JSON true or false only: an outcome typed as 1 or "yes" is more likely a mistake than a label."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class OutcomeRequestSchema(StrictSchema):
    outcome = JsonBoolean(required=True,
                             metadata={"description": "true: the case was fraud (or the label's positive "
                                                      "class); false: it was not."})
    note = fields.String(validate=NOTE, metadata={
        "description": "Why, kept as a note on the case (GET /v1/risk/scores/{score_id} lists them)."})


class NoteRequestSchema(StrictSchema):
    text = fields.String(required=True, validate=NOTE)
    author = fields.String(validate=ANALYST, metadata={"description": "Who writes it; default the API key's id."})


class NoteSchema(Schema):
    note_id = fields.Integer()
    author = fields.String(allow_none=True)
    text = fields.String()
    created_at = fields.DateTime()


class OutcomeResponseSchema(Schema):
    score_id = fields.String()
    model = fields.String()
    model_version = fields.String()
    customer_id = fields.String(allow_none=True)
    score = fields.Float()
    decision = fields.String()
    created_at = fields.DateTime()
    outcome = fields.Boolean()
    outcome_at = fields.DateTime()
    outcome_by = fields.String(allow_none=True)
    transaction_id = fields.String(allow_none=True)
    payment_labelled = fields.Boolean(metadata={"description": "True when the score's payment (a behavioural "
                                                               "model's case) now carries this outcome as its "
                                                               "fraud label."})


LIST_FIELD = validate.Regexp(r"^[A-Za-z0-9_.-]{1,64}$", error="A field name is 1-64 letters, digits, '_', '.', '-'.")


class RiskListPathSchema(StrictSchema):
    field = fields.String(required=True, validate=LIST_FIELD, metadata={
        "description": "customer_id, a payment's device_id / ip / country, or a table model's feature column."})
    value = fields.String(required=True, validate=validate.Length(min=1, max=200))


class RiskListEntryRequestSchema(StrictSchema):
    action = fields.String(required=True, validate=validate.OneOf(["block", "allow"]))
    reason = fields.String(validate=validate.Length(max=500))
    expires_at = fields.AwareDateTime(default_timezone=timezone.utc,
                                      metadata={"description": "After this the entry no longer applies."})


class RiskListEntrySchema(Schema):
    field = fields.String()
    value = fields.String()
    action = fields.String()
    reason = fields.String(allow_none=True)
    created_by = fields.String(allow_none=True)
    created_at = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True)


class RiskListsResponseSchema(Schema):
    entries = fields.List(fields.Nested(RiskListEntrySchema))


RULE_OPS = (">", ">=", "<", "<=", "==", "!=", "in", "not_in")
_ORDER_OPS = (">", ">=", "<", "<=")


def _rule_scalar(value) -> bool:
    """A number (not a boolean, finite) or a text of 1-200 characters."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return math.isfinite(value)
    return isinstance(value, str) and 0 < len(value) <= 200


class RiskRuleConditionSchema(StrictSchema):
    field = fields.String(required=True, validate=validate.Length(min=1, max=64), metadata={
        "description": "A feature column of the model (for the behavioural model also the payment's amount, "
                       "country, device_id, ip), or score (the calibrated score)."})
    op = fields.String(required=True, validate=validate.OneOf(RULE_OPS))
    value = fields.Raw(required=True, metadata={
        "description": "A number for >, >=, <, <=; a number or a text for == and != (numbers compare as numbers, "
                       "anything else as text); a list of 1-100 of them for in and not_in."})

    @validates_schema
    def _value_fits_op(self, data: dict, **_kwargs) -> None:
        op, value = data.get("op"), data.get("value")
        if op is None or "value" not in data:
            return
        if op in _ORDER_OPS:
            if not _rule_scalar(value) or isinstance(value, str):
                raise ValidationError(f"'{op}' compares with a number.", "value")
        elif op in ("in", "not_in"):
            if not isinstance(value, list) or not 1 <= len(value) <= 100 or not all(map(_rule_scalar, value)):
                raise ValidationError(f"'{op}' takes a list of 1-100 numbers or texts.", "value")
        elif not _rule_scalar(value):
            raise ValidationError(f"'{op}' compares with a number or a text.", "value")


RULE_NAME = validate.Regexp(r"^[a-z0-9][a-z0-9_.-]{0,63}$",
                            error="Rule names are 1-64 lower-case letters, digits, '_', '.', '-'.")


class RiskRulePathSchema(StrictSchema):
    name = fields.String(required=True, validate=RULE_NAME)


class RiskRuleBodySchema(StrictSchema):
    model = fields.String(required=True, validate=NAME, metadata={"description": "The risk model it applies to."})
    when = fields.List(fields.Nested(RiskRuleConditionSchema), required=True, validate=validate.Length(min=1, max=10),
                       metadata={"description": "1-10 conditions, all of which a case must meet. A missing "
                                                "(null) value meets none, != and not_in included."})
    action = fields.String(required=True, validate=validate.OneOf(["review", "decline"]), metadata={
        "description": "What a matching case is escalated to; a rule never lowers a decision."})
    reason = fields.String(validate=validate.Length(max=500))


class RiskRuleRequestSchema(RiskRuleBodySchema):
    enabled = fields.Boolean(load_default=True)
    expires_at = fields.AwareDateTime(default_timezone=timezone.utc,
                                      metadata={"description": "After this the rule no longer applies."})


class BacktestWindowSchema(StrictSchema):
    days = fields.Integer(load_default=30, validate=validate.Range(min=1, max=366),
                          metadata={"description": "Test on the model's cases scored in the last this many days."})
    examples = fields.Integer(load_default=10, validate=validate.Range(min=0, max=100),
                              metadata={"description": "How many matched cases to list, newest first."})


class RiskRuleBacktestRequestSchema(RiskRuleBodySchema, BacktestWindowSchema):
    """A rule to back-test without saving it, and the window."""


class BacktestDecisionsSchema(Schema):
    before = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={
        "description": "Decisions as stored (the rules live then included), by decision."})
    after = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={
        "description": "The same cases' decisions with this rule too."})


class BacktestOutcomesSchema(Schema):
    labelled = fields.Integer(metadata={"description": "Cases with a recorded outcome."})
    fraud = fields.Integer(metadata={"description": "Of those, the ones recorded as fraud."})
    matched_labelled = fields.Integer()
    matched_fraud = fields.Integer()
    precision = fields.Float(allow_none=True, metadata={
        "description": "matched_fraud / matched_labelled: how much of what the rule flags was fraud."})
    recall = fields.Float(allow_none=True, metadata={"description": "matched_fraud / fraud: the known fraud it "
                                                                    "matches."})
    changed_fraud = fields.Integer(metadata={"description": "Fraud cases whose decision the rule would raise."})
    changed_legit = fields.Integer(metadata={"description": "Cases recorded as not fraud whose decision it would "
                                                            "raise: its extra false alerts."})


class BacktestDaySchema(Schema):
    date = fields.String()
    cases = fields.Integer()
    matched = fields.Integer()
    changed = fields.Integer()
    matched_fraud = fields.Integer()


class BacktestExampleSchema(Schema):
    score_id = fields.String()
    created_at = fields.DateTime()
    score = fields.Float()
    decision = fields.String()
    decision_after = fields.String()
    outcome = fields.Boolean(allow_none=True)


class RiskRuleBacktestSchema(Schema):
    model = fields.String()
    days = fields.Integer()
    since = fields.DateTime()
    truncated = fields.Boolean(metadata={"description": "True when the window held more cases than the newest "
                                                        "200,000 tested."})
    cases = fields.Integer(metadata={"description": "Case-deciding scores of the model in the window."})
    matched = fields.Integer()
    match_rate = fields.Float(allow_none=True)
    matched_live = fields.Integer(metadata={"description": "Cases a saved rule of this name matched when they "
                                                           "were scored."})
    listed = fields.Integer(metadata={"description": "Matched cases a list entry decided: kept as they were."})
    changed = fields.Integer(metadata={"description": "Cases whose decision the rule would raise."})
    decisions = fields.Nested(BacktestDecisionsSchema)
    outcomes = fields.Nested(BacktestOutcomesSchema)
    missing = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={
        "description": "Per field the rule tests, the cases that did not carry it (they cannot match)."})
    by_day = fields.List(fields.Nested(BacktestDaySchema))
    examples = fields.List(fields.Nested(BacktestExampleSchema))


class RiskRuleConditionOutSchema(Schema):
    field = fields.String()
    op = fields.String()
    value = fields.Raw()


class RiskRuleSchema(Schema):
    name = fields.String()
    model = fields.String()
    when = fields.List(fields.Nested(RiskRuleConditionOutSchema))
    action = fields.String()
    reason = fields.String(allow_none=True)
    enabled = fields.Boolean()
    expires_at = fields.DateTime(allow_none=True)
    created_by = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class RiskRulesResponseSchema(Schema):
    rules = fields.List(fields.Nested(RiskRuleSchema))


class RiskRulesQuerySchema(StrictSchema):
    model = fields.String(validate=NAME, metadata={"description": "One model's rules; default every model's."})


class ChallengerQuerySchema(StrictSchema):
    days = fields.Integer(load_default=7, validate=validate.Range(min=1, max=366),
                          metadata={"description": "How many days back from now to read scores (never before the "
                                                   "running challenge began)."})
    version = fields.String(validate=validate.Length(min=1, max=64),
                            metadata={"description": "The challenger version; default the running challenger."})


class RocCurveSchema(Schema):
    fpr = fields.List(fields.Float(), metadata={"description": "False-positive rates, from 0 to 1 (at most 101)."})
    tpr = fields.List(fields.Float(), metadata={"description": "True-positive rates at the same thresholds."})


class ChallengeArmSchema(Schema):
    version = fields.String()
    cases = fields.Integer()
    mean_score = fields.Float(allow_none=True)
    decision_rates = fields.Dict(metadata={"description": "approve/review/decline shares of the cases no list "
                                                          "decided and no decision rule matched."})
    list_decided = fields.Integer()
    rule_matched = fields.Integer(metadata={"description": "Cases (no list decided) that a decision rule matched."})
    outcomes = fields.Integer(metadata={"description": "Cases with a recorded outcome."})
    positive_rate = fields.Float(allow_none=True)
    roc_auc = fields.Float(allow_none=True)
    average_precision = fields.Float(allow_none=True)
    brier = fields.Float(allow_none=True)
    roc_curve = fields.Nested(RocCurveSchema, allow_none=True,
                              metadata={"description": "On the cases with outcomes; null without both classes."})


class ChallengePairedSchema(Schema):
    cases = fields.Integer(metadata={"description": "Cases both versions scored (shadow mode)."})
    coverage = fields.Float(allow_none=True, metadata={"description": "Their share of the champion's cases."})
    agreement = fields.Float(allow_none=True)
    decisions = fields.Dict(metadata={"description": "Counts: champion decision → challenger decision → cases."})
    score_correlation = fields.Float(allow_none=True, metadata={"description": "Spearman, over the paired cases."})
    mean_score_difference = fields.Float(allow_none=True)


class AucDifferenceSchema(Schema):
    estimate = fields.Float(metadata={"description": "Challenger's ROC-AUC minus the champion's."})
    low = fields.Float(metadata={"description": "2.5th percentile of the bootstrap."})
    high = fields.Float(metadata={"description": "97.5th percentile of the bootstrap."})
    cases = fields.Integer()
    resamples = fields.Integer()
    how = fields.String(metadata={"description": "paired (shadow: the same cases) or split (each arm resampled)"})


class ChallengerReportSchema(Schema):
    model = fields.String()
    champion = fields.String()
    challenger = fields.String()
    mode = fields.String(allow_none=True)
    share = fields.Float(allow_none=True)
    since = fields.DateTime()
    until = fields.DateTime()
    truncated = fields.Boolean()
    arms = fields.List(fields.Nested(ChallengeArmSchema))
    paired = fields.Nested(ChallengePairedSchema, allow_none=True)
    auc_difference = fields.Nested(AucDifferenceSchema, allow_none=True)
    verdict = fields.String(metadata={"description": "challenger_better, champion_better, no_clear_difference "
                                                     "(the 95 % interval holds 0), too_few_outcomes, no_traffic"})
