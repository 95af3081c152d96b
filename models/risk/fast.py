"""Exact fast paths for a LightGBM booster: a compiled kernel for a score with its reasons, lleaves for batches.

Why: LightGBM's ``pred_contrib`` (path-dependent TreeSHAP) is compute-bound: ~1-1.5 ms a row for the 221-tree,
31-leaf Taiwan model, more than everything else a score request does. This module computes the same numbers
about 15× faster:

- ``TreeTables`` flattens the booster (from ``dump_model``) into arrays: every internal node (feature, threshold,
  missing-value rule, categorical levels going left) and every leaf (value; for each distinct feature on its path,
  the product q of that feature's cover ratios and a bit mask of its path nodes).
- ``_kernel`` is one generic function written in LLVM IR through llvmlite (the compiler lleaves uses), compiled
  once per process in ~0.5 s; the tables make it work for any model. Per row it evaluates every node's decision
  exactly as LightGBM's ``Tree::Decision`` does, walks each tree for the raw score (summed in tree order, as
  LightGBM does, so the score is bit-identical to ``Booster.predict``), and adds every leaf's TreeSHAP terms.
  For a leaf with value v, distinct path features U, z_j = 1 when the row meets all of feature j's conditions on
  the path (else 0) and q_j as above, feature i gets

      v · (z_i − q_i) · Σ_k k!(u−k−1)!/u! · [y^k] Π_{j≠i} (q_j + z_j·y)   (u = |U|)

  which is what LightGBM's ExtendPath/UnwoundPathSum evaluate. Since k!(u−k−1)!/u! = ∫₀¹ t^k (1−t)^(u−k−1) dt,
  the sum is ∫₀¹ Π_{j≠i} (q_j(1−t) + z_j·t) dt, a polynomial of degree u − 1 that Gauss-Legendre integrates
  exactly with ⌈u/2⌉ nodes: one SIMD vector of products per leaf, no divisions by small numbers, no branches on
  the data. Results agree with pred_contrib to ~1e-14 (tests check 1e-9); on paths with 30+ distinct features
  LightGBM's own recursion drifts (its contributions stop adding up to the score) while these still do.
- ``LleavesBatch`` wraps lleaves (LLVM-compiled trees) for large batches, its object file cached beside the
  artifact (compiling takes seconds: 7 s for 221 trees, 15 s for 1,541; the cache is keyed by CPU and versions).

Everything is optional: without llvmlite (and lleaves) ``FastExplainer.build`` and ``LleavesBatch.build`` return
None and callers use LightGBM. So do multiclass, random-forest and linear-tree boosters, trees over 64 leaves,
and models too large for the kernel's stack scratch.
"""
from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

K_ZERO_THRESHOLD = float(np.float32(1e-35))   # LightGBM's kZeroThreshold (a float): |x| ≤ it reads as 0
NUMERIC_NONE, NUMERIC_ZERO, NUMERIC_NAN, CATEGORICAL = 0, 1, 2, 3
_MISSING = {"None": NUMERIC_NONE, "Zero": NUMERIC_ZERO, "NaN": NUMERIC_NAN}

#: Leaves are processed in classes by how many distinct features their path has: for a leaf with u of them the
#: integrand has degree u − 1, which Gauss-Legendre with ≥ u/2 nodes integrates exactly; one SIMD vector of
#: that many doubles holds the row's values at all nodes.
WIDTHS = (2, 4, 8, 16, 32)
MAX_UNIQUE = 2 * WIDTHS[-1]
MAX_STACK_BYTES = 1 << 20    # per-call scratch on the stack: decisions (1 byte a node) and masks (8 bytes a tree)
MAX_TREE_NODES = 63          # a tree's decisions are one 64-bit mask (kefu trains ≤ 31 leaves; more: LightGBM)

# the order of the array addresses the kernel reads from its context
_CTX_FIELDS = ("dims", "node_feat", "node_thr", "node_defl", "node_left", "node_right", "node_cat_off",
               "node_cat_len", "cat_left", "node_order", "tree_first", "tree_root", "leaf_val", "sl_val",
               "sl_tree", "sl_dir", "sl_pair_start", "pair_feat", "pair_q", "pair_mask", "quad")
# dims: num_features, nodes, trees, max_unique, then per kind [start, end) in node_order (4 kinds → 5 bounds),
# then for u = 0..MAX_UNIQUE the leaves with u distinct path features: [bounds[u], bounds[u+1]) in the SHAP list
_DIM_NODE_BOUNDS = 4
_DIM_LEAF_BOUNDS = _DIM_NODE_BOUNDS + 5
UNROLL_MAX = 16              # leaves with up to this many distinct features get straight-line code per count


class Unsupported(ValueError):
    """The booster uses something the kernel does not implement; the caller keeps LightGBM."""


@dataclass
class TreeTables:
    """A booster as flat arrays (see the module docstring)."""

    num_features: int
    node_feat: np.ndarray      # int32[G]
    node_thr: np.ndarray       # float64[G]
    node_kind: np.ndarray      # int8[G]  NUMERIC_NONE / NUMERIC_ZERO / NUMERIC_NAN / CATEGORICAL
    node_defl: np.ndarray      # int8[G]  default_left (missing values go left)
    node_left: np.ndarray      # int32[G] >= 0: internal node, < 0: ~leaf
    node_right: np.ndarray     # int32[G]
    node_cat_off: np.ndarray   # int32[G] categorical nodes: offset of their levels in cat_left
    node_cat_len: np.ndarray   # int32[G]
    cat_left: np.ndarray       # int8[C]  1 where that level goes left
    node_order: np.ndarray     # int32[G] node ids grouped by kind (so the decision loops do not branch on kind)
    kind_bounds: np.ndarray    # int32[5]
    tree_first: np.ndarray     # int32[T+1] each tree's internal nodes are [tree_first[t], tree_first[t+1])
    tree_root: np.ndarray      # int32[T]
    leaf_val: np.ndarray       # float64[L] by leaf code (the raw-score walk)
    sl_val: np.ndarray         # float64[S] leaves of multi-leaf trees, grouped by width class (TreeSHAP)
    sl_tree: np.ndarray        # int32[S]
    sl_dir: np.ndarray         # int64[S] bit set where the leaf's path goes left
    sl_pair_start: np.ndarray  # int32[S+1] each leaf's distinct path features: [start, end) in pair_*
    pair_feat: np.ndarray      # int32[P]
    pair_q: np.ndarray         # float64[P] product of the cover ratios of that feature's path nodes
    pair_mask: np.ndarray      # int64[P] bits of that feature's path nodes
    u_bounds: np.ndarray       # int32[MAX_UNIQUE+2] SHAP leaves sorted by distinct feature count u
    quad: np.ndarray           # float64: per width w, w nodes t, then w weights (Gauss-Legendre on [0, 1])
    max_unique: int
    bias: float                # sum of the trees' expected values (pred_contrib's last column)

    @classmethod
    def from_booster(cls, booster) -> TreeTables:
        dump = booster.dump_model()
        if dump.get("num_class", 1) != 1 or dump.get("num_tree_per_iteration", 1) != 1:
            raise Unsupported("only single-output (binary / regression) boosters")
        if dump.get("average_output"):
            raise Unsupported("random-forest boosters (average_output)")
        nodes: dict[str, list] = {k: [] for k in ("feat", "thr", "kind", "defl", "left", "right", "cat_off", "cat_len")}
        cat_left: list[int] = []
        leaf_val: list[float] = []
        shap_leaves: list[tuple[float, int, int, list[tuple[int, float, int]]]] = []
        roots: list[int] = []
        bias = 0.0

        tree_first: list[int] = []
        for tree_no, tree in enumerate(dump["tree_info"]):
            tree_first.append(len(nodes["feat"]))
            root = tree["tree_structure"]
            if "split_index" not in root:                                      # a single-leaf tree
                roots.append(~len(leaf_val))
                leaf_val.append(float(root["leaf_value"]))
                bias += float(root["leaf_value"])
                continue
            leaves = sorted(_iter_leaves(root), key=lambda n: n["leaf_index"])
            if any("leaf_coeff" in n for n in leaves):
                raise Unsupported("linear trees")
            if len(leaves) - 1 > MAX_TREE_NODES:
                raise Unsupported(f"trees with more than {MAX_TREE_NODES + 1} leaves")
            total = float(root["internal_count"])
            expected = 0.0
            for leaf in leaves:                                                 # Tree::ExpectedValue, same order
                expected += (leaf["leaf_count"] / total) * float(leaf["leaf_value"])
            bias += expected
            first_node = len(nodes["feat"])

            def visit(node: dict, path: list[tuple[int, int, int, float]]) -> int:
                """Number the node; returns its code (>= 0 internal, < 0 ~leaf)."""
                if "split_index" not in node:
                    code = ~len(leaf_val)
                    leaf_val.append(float(node["leaf_value"]))
                    pairs: dict[int, list] = {}
                    directions = 0
                    for g, direction, feature, ratio in path:
                        pair = pairs.setdefault(feature, [feature, 1.0, 0])
                        pair[1] = ratio * pair[1]                                # LightGBM's order of products
                        pair[2] |= 1 << (g - first_node)
                        directions |= direction << (g - first_node)
                    if len(pairs) > MAX_UNIQUE:
                        raise Unsupported(f"a path with more than {MAX_UNIQUE} distinct features")
                    if any(p[1] <= 0.0 for p in pairs.values()):
                        raise Unsupported("a node without training rows (zero cover)")
                    shap_leaves.append((float(node["leaf_value"]), tree_no, directions,
                                        [tuple(p) for p in pairs.values()]))
                    return code
                g = len(nodes["feat"])
                for values in nodes.values():
                    values.append(0)
                feature = int(node["split_feature"])
                if node["decision_type"] == "==":
                    levels = [int(v) for v in str(node["threshold"]).split("||")]
                    if min(levels) < 0:
                        raise Unsupported("negative categorical levels")
                    table = np.zeros(max(levels) + 1, dtype=np.int8)
                    table[levels] = 1
                    nodes["kind"][g], nodes["thr"][g] = CATEGORICAL, 0.0
                    nodes["cat_off"][g], nodes["cat_len"][g] = len(cat_left), len(table)
                    cat_left.extend(table.tolist())
                elif node["decision_type"] == "<=":
                    nodes["kind"][g] = _MISSING[node.get("missing_type", "None")]
                    nodes["thr"][g] = float(node["threshold"])
                else:
                    raise Unsupported(f"decision type {node['decision_type']!r}")
                nodes["feat"][g] = feature
                nodes["defl"][g] = 1 if node.get("default_left") else 0
                count = float(node["internal_count"])
                left, right = node["left_child"], node["right_child"]
                nodes["left"][g] = visit(left, path + [(g, 1, feature, _count(left) / count)])
                nodes["right"][g] = visit(right, path + [(g, 0, feature, _count(right) / count)])
                return g

            roots.append(visit(root, []))

        tree_first.append(len(nodes["feat"]))
        if len(nodes["feat"]) + 8 * len(roots) > MAX_STACK_BYTES:
            raise Unsupported("a model this large (the kernel keeps one byte per node on the stack)")
        shap_leaves.sort(key=lambda leaf: len(leaf[3]))                       # stable: tree order within a count
        counts = [0] * (MAX_UNIQUE + 2)
        for leaf in shap_leaves:
            counts[len(leaf[3]) + 1] += 1
        sl_val, sl_tree, sl_dir, sl_pair_start, pair_feat, pair_q, pair_mask = [], [], [], [0], [], [], []
        for value, tree_no, directions, pairs in shap_leaves:
            sl_val.append(value)
            sl_tree.append(tree_no)
            sl_dir.append(_signed64(directions))
            for feature, q, mask in pairs:
                pair_feat.append(feature)
                pair_q.append(q)
                pair_mask.append(_signed64(mask))
            sl_pair_start.append(len(pair_feat))
        quad = []
        for w in WIDTHS:
            x, wt = np.polynomial.legendre.leggauss(w)
            quad += list((x + 1.0) / 2.0) + list(wt / 2.0)
        kinds = np.asarray(nodes["kind"], dtype=np.int8)
        order = np.argsort(kinds, kind="stable")
        kind_bounds = np.searchsorted(kinds[order], np.arange(5))
        i32 = lambda v: np.ascontiguousarray(v, dtype=np.int32)  # noqa: E731
        i64 = lambda v: np.ascontiguousarray(v, dtype=np.int64)  # noqa: E731
        i8 = lambda v: np.ascontiguousarray(v, dtype=np.int8)  # noqa: E731
        f64 = lambda v: np.ascontiguousarray(v, dtype=np.float64)  # noqa: E731
        pad = lambda v, x=0: list(v) if len(v) else [x]  # noqa: E731 - never hand the kernel an empty (null) array
        return cls(
            num_features=int(booster.num_feature()),
            node_feat=i32(pad(nodes["feat"])), node_thr=f64(pad(nodes["thr"], 0.0)), node_kind=kinds,
            node_defl=i8(pad(nodes["defl"])), node_left=i32(pad(nodes["left"])), node_right=i32(pad(nodes["right"])),
            node_cat_off=i32(pad(nodes["cat_off"])), node_cat_len=i32(pad(nodes["cat_len"])),
            cat_left=i8(pad(cat_left)), node_order=i32(pad(order.tolist())), kind_bounds=i32(kind_bounds),
            tree_first=i32(tree_first),
            tree_root=i32(pad(roots)), leaf_val=f64(pad(leaf_val, 0.0)), sl_val=f64(pad(sl_val, 0.0)),
            sl_tree=i32(pad(sl_tree)), sl_dir=i64(pad(sl_dir)), sl_pair_start=i32(sl_pair_start),
            pair_feat=i32(pad(pair_feat)), pair_q=f64(pad(pair_q, 1.0)), pair_mask=i64(pad(pair_mask)),
            u_bounds=i32(np.cumsum(counts)), quad=f64(quad),
            max_unique=max((len(leaf[3]) for leaf in shap_leaves), default=0), bias=bias,
        )

    def dims(self) -> np.ndarray:
        return np.array([self.num_features, len(self.node_kind), len(self.tree_root), self.max_unique,
                         *self.kind_bounds, *self.u_bounds], dtype=np.int32)


def _signed64(bits: int) -> int:
    return bits - (1 << 64) if bits >= 1 << 63 else bits


def _iter_leaves(node: dict):
    stack = [node]
    while stack:
        n = stack.pop()
        if "split_index" in n:
            stack += [n["left_child"], n["right_child"]]
        else:
            yield n


def _count(node: dict) -> float:
    return float(node["internal_count"] if "split_index" in node else node["leaf_count"])


# --- the kernel ---------------------------------------------------------------------------------------------------
_KERNEL_LOCK = threading.Lock()
_KERNEL: Any = None          # (engine, function) once compiled; False when llvmlite is unavailable or failed


def _kernel():
    """Compile the kernel once per process (~0.5 s); None without llvmlite (or if LLVM fails: logged)."""
    global _KERNEL
    if _KERNEL is None:
        with _KERNEL_LOCK:
            if _KERNEL is None:
                try:
                    _KERNEL = _compile_kernel()
                except ImportError:
                    _KERNEL = False
                except Exception:  # noqa: BLE001 - a broken LLVM must not stop serving: LightGBM still works
                    log.exception("compiling the TreeSHAP kernel failed; using LightGBM's pred_contrib")
                    _KERNEL = False
    return _KERNEL or None


def _build_ir() -> str:
    """kefu_shap_rows(ctx, n, X, margins, contributions): see the module docstring."""
    from llvmlite import ir

    i8, i32, i64, f64 = ir.IntType(8), ir.IntType(32), ir.IntType(64), ir.DoubleType()
    module = ir.Module(name="kefu_treeshap")
    c32 = lambda v: ir.Constant(i32, v)  # noqa: E731
    c8 = lambda v: ir.Constant(i8, v)  # noqa: E731
    cf = lambda v: ir.Constant(f64, v)  # noqa: E731
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [i64.as_pointer(), i32, f64.as_pointer(),
                                                              f64.as_pointer(), f64.as_pointer()]), name="kefu_shap_rows")
    ctx_arg, nrows, xs, margins, phis = fn.args
    fabs = module.declare_intrinsic("llvm.fabs", [f64])
    ctpop = module.declare_intrinsic("llvm.ctpop", [i64])
    entry = fn.append_basic_block("entry")
    body = fn.append_basic_block("body")
    b = ir.IRBuilder(entry)
    types = {"dims": i32, "node_feat": i32, "node_thr": f64, "node_defl": i8, "node_left": i32, "node_right": i32,
             "node_cat_off": i32, "node_cat_len": i32, "cat_left": i8, "node_order": i32, "tree_first": i32,
             "tree_root": i32, "leaf_val": f64, "sl_val": f64, "sl_tree": i32, "sl_dir": i64,
             "sl_pair_start": i32, "pair_feat": i32, "pair_q": f64, "pair_mask": i64, "quad": f64}
    a = {n: b.inttoptr(b.load(b.gep(ctx_arg, [c32(i)])), types[n].as_pointer()) for i, n in enumerate(_CTX_FIELDS)}
    ld = lambda arr, i: b.load(b.gep(a[arr], [i]))  # noqa: E731
    dim = lambda i: ld("dims", c32(i))  # noqa: E731
    nfeat, nnodes, ntrees, maxu = dim(0), dim(1), dim(2), dim(3)
    kind_bounds = [dim(_DIM_NODE_BOUNDS + i) for i in range(5)]
    u_bounds = [dim(_DIM_LEAF_BOUNDS + i) for i in range(MAX_UNIQUE + 2)]
    widest = WIDTHS[-1]
    dec = b.alloca(i8, size=b.add(nnodes, c32(1)), name="dec")
    bits = b.alloca(i64, size=b.add(ntrees, c32(1)), name="bits")
    coef = b.alloca(f64, size=b.add(maxu, c32(1)), name="coef")
    factors = b.alloca(f64, size=b.mul(b.add(maxu, c32(1)), c32(widest)), name="factors")
    acc = b.alloca(f64, size=b.mul(b.add(nfeat, c32(1)), c32(widest)), name="acc")
    factors.align = acc.align = 64
    variables = {name: b.alloca(ty, name=name) for name, ty in (
        ("r", i32), ("g", i32), ("t", i32), ("node", i32), ("tb", i64), ("sum", f64), ("l", i32), ("k", i32), ("f", i32),
        *((f"prod{w}", ir.VectorType(f64, w)) for w in WIDTHS))}
    b.branch(body)
    b.position_at_end(body)

    def loop(counter: str, start, stop):
        """for (counter = start; counter < stop; counter++); returns (i, close)."""
        ptr = variables[counter]
        b.store(start, ptr)
        cond = fn.append_basic_block(f"{counter}_cond")
        inner = fn.append_basic_block(f"{counter}_body")
        done = fn.append_basic_block(f"{counter}_done")
        b.branch(cond)
        b.position_at_end(cond)
        i = b.load(ptr)
        b.cbranch(b.icmp_signed("<", i, stop), inner, done)
        b.position_at_end(inner)

        def close():
            b.store(b.add(b.load(ptr), c32(1)), ptr)
            b.branch(cond)
            b.position_at_end(done)
        return i, close

    r, close_r = loop("r", c32(0), nrows)
    xrow = b.gep(xs, [b.mul(r, nfeat)])
    phi = b.gep(phis, [b.mul(r, b.add(nfeat, c32(1)))])

    # 1. every internal node's decision (1 = left), LightGBM's Tree::Decision, one loop per kind;
    #    kept per node (for the walk) and as a bit per tree (for the leaves' path checks)
    for kind in (NUMERIC_NONE, NUMERIC_ZERO, NUMERIC_NAN, CATEGORICAL):
        i, close = loop("g", kind_bounds[kind], kind_bounds[kind + 1])
        g = ld("node_order", i)
        xv = b.load(b.gep(xrow, [ld("node_feat", g)]))
        # LightGBM reads |x| <= kZeroThreshold as 0 (it drops such values when it parses a row)
        tiny = b.fcmp_ordered("<=", b.call(fabs, [xv]), cf(K_ZERO_THRESHOLD))
        xv = b.select(tiny, cf(0.0), xv)
        isnan = b.fcmp_unordered("uno", xv, xv)
        if kind == CATEGORICAL:
            # NaN, negative (after truncation towards zero) or huge values go right; else the level's bit
            in_range = b.and_(b.fcmp_ordered(">", xv, cf(-1.0)), b.fcmp_ordered("<", xv, cf(2147483648.0)))
            level = b.fptosi(b.select(in_range, xv, cf(0.0)), i32)
            known = b.and_(in_range, b.icmp_signed("<", level, ld("node_cat_len", g)))
            idx = b.select(known, b.add(ld("node_cat_off", g), level), c32(0))
            left = b.and_(known, b.icmp_signed("!=", b.load(b.gep(a["cat_left"], [idx])), c8(0)))
        else:
            defl = b.icmp_signed("!=", ld("node_defl", g), c8(0))
            v = b.select(isnan, cf(0.0), xv)                     # NaN reads as 0 unless the missing type is NaN
            below = b.fcmp_ordered("<=", v, ld("node_thr", g))
            if kind == NUMERIC_NONE:
                left = below
            elif kind == NUMERIC_ZERO:
                is_zero = b.and_(b.fcmp_ordered(">=", v, cf(-K_ZERO_THRESHOLD)), b.fcmp_ordered("<=", v, cf(K_ZERO_THRESHOLD)))
                left = b.select(is_zero, defl, below)
            else:
                left = b.select(isnan, defl, below)
        b.store(b.zext(left, i8), b.gep(dec, [g]))
        close()

    # 2. the raw score: walk every tree, summing leaf values in tree order (as LightGBM does)
    b.store(cf(0.0), variables["sum"])
    t, close_t = loop("t", c32(0), ntrees)
    # this tree's decisions as one 64-bit mask (bit g - first: node g goes left), for the leaves' path checks
    first = ld("tree_first", t)
    b.store(ir.Constant(i64, 0), variables["tb"])
    g, close_g = loop("g", first, ld("tree_first", b.add(t, c32(1))))
    bit = b.shl(b.zext(b.load(b.gep(dec, [g])), i64), b.zext(b.sub(g, first), i64))
    b.store(b.or_(b.load(variables["tb"]), bit), variables["tb"])
    close_g()
    b.store(b.load(variables["tb"]), b.gep(bits, [t]))
    b.store(ld("tree_root", t), variables["node"])
    walk_cond, walk_body, walk_done = (fn.append_basic_block(n) for n in ("walk_cond", "walk_body", "walk_done"))
    b.branch(walk_cond)
    b.position_at_end(walk_cond)
    node = b.load(variables["node"])
    b.cbranch(b.icmp_signed(">=", node, c32(0)), walk_body, walk_done)
    b.position_at_end(walk_body)
    goes_left = b.icmp_signed("!=", b.load(b.gep(dec, [node])), c8(0))
    b.store(b.select(goes_left, ld("node_left", node), ld("node_right", node)), variables["node"])
    b.branch(walk_cond)
    b.position_at_end(walk_done)
    b.store(b.fadd(b.load(variables["sum"]), ld("leaf_val", b.xor(node, c32(-1)))), variables["sum"])
    close_t()
    b.store(b.load(variables["sum"]), b.gep(margins, [r]))

    # 3. TreeSHAP, leaf by leaf: term_i = v·(z_i − q_i)·∫₀¹ Π_{j≠i} (q_j(1−t) + z_j·t) dt, by Gauss-Legendre:
    #    with F(t) = Π_j factor_j(t), each feature accumulates v·(z_i − q_i)·F/factor_i at the nodes, and the
    #    weighted sum over the nodes is taken once per feature at the end of the class.
    quad_offset = 0
    for c, width in enumerate(WIDTHS):
        vec = ir.VectorType(f64, width)
        vptr = vec.as_pointer()
        quad = b.bitcast(b.gep(a["quad"], [c32(quad_offset)]), vptr)
        nodes_t = b.load(quad, align=8)
        weights = b.load(b.gep(quad, [c32(1)]), align=8)
        quad_offset += 2 * width
        one_minus_t = b.fsub(ir.Constant(vec, [1.0] * width), nodes_t)
        zero_v, one_v = ir.Constant(vec, [0.0] * width), ir.Constant(vec, [1.0] * width)
        factors_v = b.bitcast(factors, vptr)
        acc_v = b.bitcast(acc, vptr)
        prod_ptr = variables[f"prod{width}"]                # its own type, so it lives in a register

        def splat(value):
            out = ir.Constant(vec, ir.Undefined)
            for m in range(width):
                out = b.insert_element(out, value, c32(m))
            return out

        u_lo = 1 if c == 0 else 2 * WIDTHS[c - 1] + 1                # the counts this width integrates exactly
        u_hi = 2 * width
        lo, hi = u_bounds[u_lo], u_bounds[u_hi + 1]

        def leaf_start(l):
            p0 = ld("sl_pair_start", l)
            value = ld("sl_val", l)
            agree = b.xor(b.xor(b.load(b.gep(bits, [ld("sl_tree", l)])), ld("sl_dir", l)), ir.Constant(i64, -1))
            return p0, value, agree

        def pair(p, value, agree):
            """(factor vector, coefficient v·(z − q), feature) of one distinct path feature."""
            # z = 1 when no path node of this feature disagrees: 1 >> popcount(disagreements). Written without a
            # compare because x86 lowers a floating-point select to a branch, and z is random data (mispredicts
            # cost more than all of this arithmetic)
            misses = b.and_(b.xor(agree, ir.Constant(i64, -1)), ld("pair_mask", p))
            z = b.uitofp(b.lshr(ir.Constant(i64, 1), b.call(ctpop, [misses])), f64)
            q = ld("pair_q", p)
            factor = b.fadd(b.fmul(splat(q), one_minus_t), b.fmul(splat(z), nodes_t))
            return factor, b.fmul(value, b.fsub(z, q)), ld("pair_feat", p)

        def add(feature, term):
            slot = b.gep(acc_v, [feature])
            b.store(b.fadd(b.load(slot, align=8), term), slot, align=8)

        with b.if_then(b.icmp_signed("<", lo, hi)):
            f, close = loop("f", c32(0), nfeat)
            b.store(zero_v, b.gep(acc_v, [f]), align=8)
            close()
            # straight-line code per count u: factors stay in registers; each feature's term is
            # coef · Π_{j<k} factor_j · Π_{j>k} factor_j (prefix and suffix products, no division)
            for u in range(u_lo, min(u_hi, UNROLL_MAX) + 1):
                l, close_l = loop("l", u_bounds[u], u_bounds[u + 1])
                p0, value, agree = leaf_start(l)
                items = [pair(b.add(p0, c32(k)), value, agree) for k in range(u)]
                prefixes = [one_v]
                for factor, _, _ in items[:-1]:
                    prefixes.append(b.fmul(prefixes[-1], factor))
                suffix = one_v
                for k in range(u - 1, -1, -1):
                    factor, coefficient, feature = items[k]
                    add(feature, b.fmul(splat(coefficient), b.fmul(prefixes[k], suffix)))
                    if k:
                        suffix = b.fmul(suffix, factor)
                close_l()
            if u_hi > UNROLL_MAX:                                       # deep paths: a generic loop
                l, close_l = loop("l", u_bounds[max(u_lo, UNROLL_MAX + 1)], hi)
                p0, value, agree = leaf_start(l)
                u = b.sub(ld("sl_pair_start", b.add(l, c32(1))), p0)
                b.store(one_v, prod_ptr, align=8)
                k, close_k = loop("k", c32(0), u)
                factor, coefficient, _ = pair(b.add(p0, k), value, agree)
                b.store(factor, b.gep(factors_v, [k]), align=8)
                b.store(coefficient, b.gep(coef, [k]))
                b.store(b.fmul(b.load(prod_ptr, align=8), factor), prod_ptr, align=8)
                close_k()
                total = b.load(prod_ptr, align=8)
                k, close_k = loop("k", c32(0), u)
                term = b.fmul(splat(b.load(b.gep(coef, [k]))), b.fdiv(total, b.load(b.gep(factors_v, [k]), align=8)))
                add(ld("pair_feat", b.add(p0, k)), term)
                close_k()
                close_l()
            f, close = loop("f", c32(0), nfeat)
            weighted = b.fmul(b.load(b.gep(acc_v, [f]), align=8), weights)
            total = b.extract_element(weighted, c32(0))
            for m in range(1, width):
                total = b.fadd(total, b.extract_element(weighted, c32(m)))
            target = b.gep(phi, [f])
            b.store(b.fadd(b.load(target), total), target)
            close()
    close_r()
    b.ret_void()
    return str(module)


def _compile_kernel():
    import llvmlite.binding as llvm

    try:  # llvmlite < 0.45 needs this; newer versions initialise themselves (and raise here)
        llvm.initialize()
    except RuntimeError:
        pass
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    module = llvm.parse_assembly(_build_ir())
    module.verify()
    target = llvm.Target.from_triple(llvm.get_process_triple())
    try:
        features = llvm.get_host_cpu_features().flatten()
    except RuntimeError:
        features = ""
    machine = target.create_target_machine(cpu=llvm.get_host_cpu_name(), features=features, opt=3)
    pmb = llvm.PassManagerBuilder()
    pmb.opt_level = 3
    pm = llvm.ModulePassManager()
    pmb.populate(pm)
    pm.run(module)
    engine = llvm.create_mcjit_compiler(module, machine)
    engine.finalize_object()
    vp = ctypes.c_void_p
    shap = ctypes.CFUNCTYPE(None, vp, ctypes.c_int32, vp, vp, vp)(engine.get_function_address("kefu_shap_rows"))
    return engine, shap


def _address(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0]


class FastExplainer:
    """Raw scores and per-row contributions of one booster through the compiled kernel.

    ``explain_rows(X)`` → (margins[n], contributions[n, features + 1]) with the layout of LightGBM's
    ``predict(X, pred_contrib=True)`` (last column: the expected value). Reentrant: scratch space is on the stack.
    """

    def __init__(self, tables: TreeTables, kernel) -> None:
        self.tables = tables
        self.num_features = tables.num_features
        self._keep = [tables.dims()] + [getattr(tables, n) for n in _CTX_FIELDS[1:]]
        self._ctx = np.array([_address(arr) for arr in self._keep], dtype=np.int64)
        self._ctx_ptr = _address(self._ctx)
        self._engine, self._shap = kernel
        self.bias = tables.bias

    @classmethod
    def build(cls, booster) -> FastExplainer | None:
        """None when llvmlite is missing or the booster uses something the kernel does not cover."""
        kernel = _kernel()
        if kernel is None:
            return None
        try:
            return cls(TreeTables.from_booster(booster), kernel)
        except Unsupported as exc:
            log.info("compiled TreeSHAP not used: %s", exc)
            return None

    def explain_rows(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(matrix, dtype=np.float64)          # read only; no copy for an encoded row
        if x.ndim != 2 or x.shape[1] != self.num_features:
            raise ValueError(f"expected rows of {self.num_features} features, got shape {x.shape}")
        n = len(x)
        margins = np.empty(n)
        contrib = np.zeros((n, self.num_features + 1))
        if n:
            self._shap(self._ctx_ptr, n, _address(x), _address(margins), _address(contrib))
        contrib[:, -1] = self.bias
        return margins, contrib


# --- lleaves for large batches ------------------------------------------------------------------------------------
class LleavesBatch:
    """lleaves' compiled predictor (raw scores), its object file cached in ``<artifact>/.cache/``.

    The cache name carries the lleaves and llvmlite versions and the CPU, since the object is compiled for this
    host's instruction set; it is written under a temporary name and renamed, so two workers compiling at once
    never read half a file. Where the folder is read-only the model compiles in memory on every load.
    """

    def __init__(self, model) -> None:
        self._model = model

    @classmethod
    def build(cls, model_file: str | Path, cache_dir: str | Path | None = None) -> LleavesBatch | None:
        try:
            import lleaves
            import llvmlite
            import llvmlite.binding as llvm
        except ImportError:
            return None
        model_file = Path(model_file)
        try:
            model = lleaves.Model(model_file=str(model_file))
            try:
                features = llvm.get_host_cpu_features().flatten()
            except RuntimeError:
                features = ""
            key = hashlib.sha256(f"{lleaves.__version__ if hasattr(lleaves, '__version__') else ''}|"
                                 f"{llvmlite.__version__}|{llvm.get_host_cpu_name()}|{features}|"
                                 f"{model_file.stat().st_size}|{model_file.stat().st_mtime_ns}".encode()).hexdigest()[:16]
            folder = Path(cache_dir) if cache_dir else model_file.parent / ".cache"
            target = folder / f"lleaves-{model_file.stem}-{key}.o"
            if target.exists():
                model.compile(cache=str(target), raw_score=True)
            else:
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                    fd, tmp = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=folder)
                    os.close(fd)
                    os.unlink(tmp)                         # lleaves writes the object only when the path is absent
                except OSError:
                    model.compile(raw_score=True)
                    return cls(model)
                model.compile(cache=tmp, raw_score=True)
                try:
                    os.replace(tmp, target)
                except OSError:
                    pass
            return cls(model)
        except Exception:  # noqa: BLE001 - LightGBM still scores
            log.exception("lleaves could not compile %s; batches use LightGBM", model_file)
            return None

    def predict(self, matrix: np.ndarray, n_jobs: int = 1) -> np.ndarray:
        return self._model.predict(np.ascontiguousarray(matrix, dtype=np.float64), n_jobs=max(1, n_jobs))
