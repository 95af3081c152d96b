"""Average K LightGBM boosters into one booster, so a cross-fitted ensemble serves like a single model.

Why: on small tables kefu cross-fits K fold models (each early-stopped on its held-out fold) and serves their
average margin. Serving K boosters would bypass everything built for one (lleaves batch compile, the TreeSHAP
kernel in `models.risk.fast`, LightGBM's `pred_contrib` reasons), so the K models are merged into one model text:
its trees are all K models' trees, every `leaf_value` (and `internal_value`) scaled by 1/K. A booster's raw
score is the sum of its trees' leaf values, so the merged raw score is the mean of the K raw scores; TreeSHAP is
linear in the leaf values (the tree structure and the cover counts, which set the weights, are unchanged), so
the merged contributions are the mean of the K models' contributions as well.

Layout of a LightGBM text model (v4): a header (`tree`, `version=`, ..., `feature_names=`, `feature_infos=`,
`tree_sizes=` with each tree block's byte length), then blocks `Tree=<i>` ... separated by blank lines, then
`end of trees`, `feature_importances:`, `parameters:` ... `end of parameters` and `pandas_categorical:`. The
merged text leaves out `tree_sizes=` (LightGBM then parses the trees one after another) and the importances, and
is loaded and written back by LightGBM itself, so the text that is saved is LightGBM's own, with both restored.
"""
from __future__ import annotations

from typing import Sequence

import lightgbm as lgb

#: header keys every merged model must agree on (feature_infos is merged, tree_sizes recomputed by LightGBM)
SAME_HEADER = ("version", "num_class", "num_tree_per_iteration", "label_index", "max_feature_idx", "objective",
               "feature_names")
SCALED_KEYS = ("leaf_value", "internal_value")


def _split_model(text: str) -> tuple[list[str], list[list[str]], list[str]]:
    """-> (header lines, one list of lines per tree without its `Tree=` line, the lines from `end of trees`)."""
    lines = text.split("\n")
    try:
        end = lines.index("end of trees")
    except ValueError:
        raise ValueError("not a LightGBM text model: no 'end of trees' line") from None
    header: list[str] = []
    trees: list[list[str]] = []
    for line in lines[:end]:
        if line.startswith("Tree="):
            trees.append([])
        elif trees:
            if line:
                trees[-1].append(line)
        elif line:
            header.append(line)
    return header, trees, lines[end:]


def _header_dict(header: list[str]) -> dict[str, str]:
    return dict(line.split("=", 1) for line in header if "=" in line)


def _merge_feature_infos(infos: Sequence[str]) -> str:
    """Per feature: numeric `[min:max]` -> the widest range; categorical `a:b:c` -> the union of the categories
    (first seen order); `none` (constant in that fold's rows) only where every model has `none`."""
    per_model = [info.split(" ") for info in infos]
    if len({len(p) for p in per_model}) != 1:
        raise ValueError("models have different numbers of features")
    merged = []
    for values in zip(*per_model):
        known = [v for v in values if v != "none"]
        if not known:
            merged.append("none")
        elif all(v.startswith("[") for v in known):
            bounds = [v[1:-1].split(":") for v in known]
            lo = min(bounds, key=lambda b: float(b[0]))[0]
            hi = max(bounds, key=lambda b: float(b[1]))[1]
            merged.append(f"[{lo}:{hi}]")
        elif not any(v.startswith("[") for v in known):
            cats: dict[str, None] = {}
            for v in known:
                cats.update(dict.fromkeys(v.split(":")))
            merged.append(":".join(cats))
        else:
            raise ValueError(f"a feature is numeric in one model and categorical in another: {values}")
    return " ".join(merged)


def _scale_line(line: str, factor: float) -> str:
    key, values = line.split("=", 1)
    return f"{key}=" + " ".join(repr(float(v) * factor) for v in values.split(" ") if v)


def merge_model_strings(texts: Sequence[str]) -> str:
    """One LightGBM model text whose raw score is the mean of the given models' raw scores.

    The models must be single-output (binary or regression) gradient-boosted trees over the same features;
    linear trees and random-forest models (`average_output`) are refused.
    """
    if not texts:
        raise ValueError("nothing to merge")
    parts = [_split_model(t) for t in texts]
    headers = [_header_dict(h) for h, _, _ in parts]
    for key in SAME_HEADER:
        values = {h.get(key) for h in headers}
        if len(values) != 1:
            raise ValueError(f"models differ in {key!r}: {sorted(map(str, values))}")
    if headers[0].get("num_class", "1") != "1" or headers[0].get("num_tree_per_iteration", "1") != "1":
        raise ValueError("only single-output models can be merged")
    if any("average_output" in h for h, _, _ in parts):
        raise ValueError("random-forest models (average_output) cannot be merged this way")
    factor = 1.0 / len(texts)
    header = []
    for line in parts[0][0]:
        if line.startswith("tree_sizes="):
            continue                                     # LightGBM parses sequentially without it
        if line.startswith("feature_infos="):
            line = "feature_infos=" + _merge_feature_infos([h["feature_infos"] for h in headers])
        header.append(line)
    out = ["\n".join(header), ""]
    index = 0
    for _, trees, _ in parts:
        for tree in trees:
            block = [f"Tree={index}"]
            for line in tree:
                key = line.split("=", 1)[0]
                if key == "is_linear" and line != "is_linear=0":
                    raise ValueError("linear trees cannot be merged")
                block.append(_scale_line(line, factor) if key in SCALED_KEYS else line)
            out += ["\n".join(block), "", ""]
            index += 1
    tail = parts[0][2]
    # keep 'end of trees' and the first model's parameters and pandas_categorical; drop its feature importances
    # (LightGBM recomputes them from the merged trees when it writes the model)
    kept, skipping = [], False
    for line in tail:
        if line == "feature_importances:":
            skipping = True
            continue
        if skipping and (line == "parameters:" or line.startswith("pandas_categorical:")):
            skipping = False
        if not skipping:
            kept.append(line)
    out.append("\n".join(kept))
    return "\n".join(out)


def merge_boosters(boosters: Sequence[lgb.Booster]) -> lgb.Booster:
    """One booster whose raw score and `pred_contrib` are the means of the given boosters' (see module doc).

    The merged text goes through LightGBM twice (load, write, load), so the booster carries LightGBM's own
    canonical text, `tree_sizes` and feature importances included.
    """
    merged = lgb.Booster(model_str=merge_model_strings([b.model_to_string() for b in boosters]))
    return lgb.Booster(model_str=merged.model_to_string())
