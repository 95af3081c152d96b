"""An exact fast path for a LightGBM booster: a compiled kernel for a score with its reasons (TreeSHAP).

Why: LightGBM's ``pred_contrib`` (path-dependent TreeSHAP) is compute-bound: ~1-1.5 ms a row for the 221-tree,
31-leaf Taiwan model, more than everything else a score request does. This module computes the same numbers
well over 10× faster (Taiwan, one core: ~85 µs a row; the per-leaf kernel this replaced took ~110 µs):

- ``TreeTables`` flattens the booster (from ``dump_model``) into arrays: every internal node (feature, threshold,
  missing-value rule, categorical levels going left; numbered in preorder within its tree), and for the TreeSHAP
  pass, per node the edge into it and the nearest ancestor edge on the same feature, and per edge (node → child)
  the static q (product of that feature's cover ratios on the path so far) and the child's leaf value.
- ``_kernel`` is one generic function written in LLVM IR through llvmlite (the compiler lleaves uses), compiled
  once per process in ~1 s; the tables make it work for any model. Per row it evaluates every node's decision
  exactly as LightGBM's ``Tree::Decision`` does, walks each tree for the raw score (summed in tree order, as
  LightGBM does, so the score is bit-identical to ``Booster.predict``), and computes the TreeSHAP values.

The TreeSHAP values. For a leaf l with value v, distinct path features U, z_j = 1 when the row meets all of feature
j's conditions on the path (else 0) and q_j the product of j's cover ratios on it, feature i gets

    v · (z_i − q_i) · Σ_k k!(u−k−1)!/u! · [y^k] Π_{j≠i} (q_j + z_j·y)   (u = |U|)

which is what LightGBM's ExtendPath/UnwoundPathSum evaluate. Since k!(u−k−1)!/u! = ∫₀¹ t^k (1−t)^(u−k−1) dt,
the sum is ∫₀¹ Π_{j≠i} f_j(t) dt with f_j(t) = q_j(1−t) + z_j·t, a polynomial of degree u − 1 that
Gauss-Legendre integrates exactly with ⌈u/2⌉ nodes: everything below is evaluated at those nodes at once (one
SIMD vector per quantity; a tree's width is set by its deepest path in distinct features), and integrated at
the end with the weights. Rather than per leaf and feature (O(leaves · depth)), the kernel works per node
(O(nodes)), as in Linear TreeSHAP (Yu et al., 2022):

- Top down, for every edge e (node n → child, splitting on feature d): z_e and q_e (feature d's state after the
  edge: q_e = q_prev · ratio, z_e = z_prev · [the row goes this way], "prev" being the nearest ancestor edge on d,
  or 1 and 1), f_e = q_e(1−t) + z_e·t, and P_e, the product of the factors of every distinct feature on the path
  down to the child: P_e = P_parent · f_e / f_prev.
- Bottom up: S_e = Σ_{leaves l below e} v_l·P_l (a leaf's own v·P_e, else the sum of its two child edges). A leaf's
  term for feature d, v_l·(z_d − q_d)·P_l/f_d, is split over the d-edges on its path by telescoping:
  (z_d − q_d) = Σ_{d-edges e} Δ_e with Δ_e = (z_e − q_e) − (z_prev − q_prev), and every d-edge sees the same
  P_l/f_d (the leaf's final factor for d). So edge e adds Δ_e·K_e to feature d, where K_e = Σ_{l below e} v_l·P_l/f_d
  = (S_e − RS_e)/f_e + RK_e: RS_e and RK_e sum S and K over the next d-edges below e (whose leaves' final f_d is
  theirs, not f_e). Each node handles its two edges: a handful of vector operations, no branches on the data.

The divisions are by f_e ≥ q_e(1−t) > 0 (zero-cover nodes are refused), of sums that carry f_e as a factor, so
they lose no digits; a node's two edges share one (1/f_L = f_R / (f_L·f_R)), since the divider's throughput, not
the instruction count, is what bounds the top-down loop. Results agree with pred_contrib to ~1e-14 (tests check 1e-9); on paths with 30+ distinct
features LightGBM's own recursion drifts (its contributions stop adding up to the score) while these still do.

Large batches go through lleaves instead (``models.compiled.LleavesBatch``).

Everything is optional: without llvmlite ``FastExplainer.build`` returns None and callers use LightGBM. So do
multiclass, random-forest and linear-tree boosters, trees over 64 leaves, and models too large for the kernel's
stack scratch.
"""
from __future__ import annotations

import ctypes
import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

K_ZERO_THRESHOLD = float(np.float32(1e-35))   # LightGBM's kZeroThreshold (a float): |x| ≤ it reads as 0
NUMERIC_NONE, NUMERIC_ZERO, NUMERIC_NAN, CATEGORICAL = 0, 1, 2, 3
_MISSING = {"None": NUMERIC_NONE, "Zero": NUMERIC_ZERO, "NaN": NUMERIC_NAN}

#: Trees are processed in classes by the most distinct features on one of their paths, u: the integrands have
#: degree ≤ u − 1, which Gauss-Legendre with w ≥ u/2 nodes integrates exactly; one vector of w doubles holds a
#: quantity's values at all nodes (powers of two: other widths cost as much as the next one, or more).
WIDTHS = (1, 2, 4, 8, 16, 32)
MAX_UNIQUE = 2 * WIDTHS[-1]
MAX_STACK_BYTES = 1 << 20    # per-call scratch on the stack: decisions (1 byte a node), features × width doubles
MAX_TREE_NODES = 63          # internal nodes of one tree (kefu trains ≤ 31 leaves; more: LightGBM)
#: The kernel keeps one tree's edges in slots 1, 2, ... (slot 0: "no edge"), each holding five vectors of the
#: tree's width: P, I = 1/f, S, C = RK − I·RS (one accumulator for both sums: K = S·I + C), and z (in lane 0).
_SLOTS = 2 * MAX_TREE_NODES + 1
_SLOT_VECTORS = 5

# the order of the array addresses the kernel reads from its context
_CTX_FIELDS = ("dims", "node_feat", "node_thr", "node_defl", "node_left", "node_right", "node_cat_off",
               "node_cat_len", "cat_left", "node_order", "tree_first", "tree_root", "leaf_val", "node_off",
               "node_num", "shap_tree", "quad", "bias")
# dims: num_features, nodes, trees, max_nodes (internal nodes of the largest tree), max_width, then per kind
# [start, end) in node_order (4 kinds → 5 bounds), then per width class [start, end) in shap_tree
_DIM_NODE_BOUNDS = 5
_DIM_CLASS_BOUNDS = _DIM_NODE_BOUNDS + 5


class Unsupported(ValueError):
    """The booster uses something the kernel does not implement; the caller keeps LightGBM."""


@dataclass
class TreeTables:
    """A booster as flat arrays (see the module docstring). The TreeSHAP pass reads two records per node, laid
    out for its tree's width class w: byte offsets into the kernel's scratch (the edge into the node, the nearest
    ancestor edge on its feature, the feature's accumulator, the node's own left edge; its right edge follows), and
    numbers (q and q_prev − q of the left and right edges, the children's leaf values or 0). Within a tree, node
    g's edges are slots 1 + 2·(g − first node) and the next; slot 0 stands for "none" (P = 1/f = z = 1)."""

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
    tree_first: np.ndarray     # int32[T+1] each tree's internal nodes are [tree_first[t], tree_first[t+1]), preorder
    tree_root: np.ndarray      # int32[T]
    leaf_val: np.ndarray       # float64[L] by leaf code (the raw-score walk)
    node_off: np.ndarray       # int32[4G] per node: byte offsets (edge in, previous edge on the feature, the
                               #   feature's accumulator, own left edge)
    node_num: np.ndarray       # float64[8G] per node: qL, qR, (q_prev − q)L, (q_prev − q)R, leaf values L, R, 0, 0
    shap_tree: np.ndarray      # int32[T'] trees with internal nodes, grouped by width class (tree order within)
    class_bounds: np.ndarray   # int32[len(WIDTHS)+1]
    quad: np.ndarray           # float64: per width w, w nodes t, then w weights (Gauss-Legendre on [0, 1])
    max_nodes: int
    max_unique: int
    bias: np.ndarray           # float64[1]: the sum of the trees' expected values (pred_contrib's last column)

    @classmethod
    def from_booster(cls, booster) -> TreeTables:
        dump = booster.dump_model()
        if dump.get("num_class", 1) != 1 or dump.get("num_tree_per_iteration", 1) != 1:
            raise Unsupported("only single-output (binary / regression) boosters")
        if dump.get("average_output"):
            raise Unsupported("random-forest boosters (average_output)")
        nodes: dict[str, list] = {k: [] for k in ("feat", "thr", "kind", "defl", "left", "right", "cat_off", "cat_len")}
        node_off: list[int] = []
        node_num: list[float] = []
        cat_left: list[int] = []
        leaf_val: list[float] = []
        roots: list[int] = []
        tree_class: list[tuple[int, int]] = []             # (width class, tree) of the trees with internal nodes
        max_unique = 0
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
            tree_unique = 0

            def visit(node: dict, into: int, seen: dict[int, tuple[int, float]]) -> int:
                """Number the node (preorder); returns its code (>= 0 internal, < 0 ~leaf). ``into`` is the slot of
                the edge into it, ``seen`` maps each feature on the path to (slot, q) of its last edge."""
                nonlocal tree_unique
                if "split_index" not in node:
                    code = ~len(leaf_val)
                    leaf_val.append(float(node["leaf_value"]))
                    if len(seen) > MAX_UNIQUE:
                        raise Unsupported(f"a path with more than {MAX_UNIQUE} distinct features")
                    tree_unique = max(tree_unique, len(seen))
                    return code
                g = len(nodes["feat"])
                for values in nodes.values():
                    values.append(0)
                node_off.extend((0, 0, 0, 0))
                node_num.extend((0.0,) * 8)
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
                prev_slot, prev_q = seen.get(feature, (0, 1.0))
                node_off[4 * g: 4 * g + 4] = into, prev_slot, feature, 1 + 2 * (g - first_node)  # scaled below
                count = float(node["internal_count"])
                for side, key in enumerate(("left_child", "right_child")):
                    child = node[key]
                    ratio = _count(child) / count
                    if ratio <= 0.0:
                        raise Unsupported("a node without training rows (zero cover)")
                    q = ratio * prev_q                                  # LightGBM's order of products
                    node_num[8 * g + side], node_num[8 * g + 2 + side] = q, prev_q - q
                    if "split_index" not in child:
                        node_num[8 * g + 4 + side] = float(child["leaf_value"])
                    slot = 1 + 2 * (g - first_node) + side
                    nodes["left" if side == 0 else "right"][g] = visit(child, slot, {**seen, feature: (slot, q)})
                return g

            roots.append(visit(root, 0, {}))
            max_unique = max(max_unique, tree_unique)
            width_class = next(c for c, w in enumerate(WIDTHS) if 2 * w >= tree_unique)
            tree_class.append((width_class, tree_no))
            width = WIDTHS[width_class]
            slot_bytes, vector_bytes = 8 * _SLOT_VECTORS * width, 8 * width
            for g in range(first_node, len(nodes["feat"])):                   # slots and features → byte offsets
                pe, pv, feature, own = node_off[4 * g: 4 * g + 4]
                node_off[4 * g: 4 * g + 4] = pe * slot_bytes, pv * slot_bytes, feature * vector_bytes, own * slot_bytes

        tree_first.append(len(nodes["feat"]))
        max_nodes = max(np.diff(tree_first), default=0)
        max_width = max((WIDTHS[c] for c, _ in tree_class), default=1)
        scratch = len(nodes["feat"]) + 8 * (int(booster.num_feature()) + 1) * max_width
        if scratch > MAX_STACK_BYTES:
            raise Unsupported("a model this large (the kernel keeps its scratch on the stack)")
        tree_class.sort()                                                     # by class, tree order within
        class_bounds = np.searchsorted([c for c, _ in tree_class], np.arange(len(WIDTHS) + 1))
        quad = []
        for w in WIDTHS:
            x, wt = np.polynomial.legendre.leggauss(w)
            quad += list((x + 1.0) / 2.0) + list(wt / 2.0)
        kinds = np.asarray(nodes["kind"], dtype=np.int8)
        order = np.argsort(kinds, kind="stable")
        kind_bounds = np.searchsorted(kinds[order], np.arange(5))
        i32 = lambda v: np.ascontiguousarray(v, dtype=np.int32)  # noqa: E731
        i8 = lambda v: np.ascontiguousarray(v, dtype=np.int8)  # noqa: E731
        f64 = lambda v: np.ascontiguousarray(v, dtype=np.float64)  # noqa: E731
        pad = lambda v, x=0: list(v) if len(v) else [x]  # noqa: E731 - never hand the kernel an empty (null) array
        return cls(
            num_features=int(booster.num_feature()),
            node_feat=i32(pad(nodes["feat"])), node_thr=f64(pad(nodes["thr"], 0.0)), node_kind=kinds,
            node_defl=i8(pad(nodes["defl"])), node_left=i32(pad(nodes["left"])), node_right=i32(pad(nodes["right"])),
            node_cat_off=i32(pad(nodes["cat_off"])), node_cat_len=i32(pad(nodes["cat_len"])),
            cat_left=i8(pad(cat_left)), node_order=i32(pad(order.tolist())), kind_bounds=i32(kind_bounds),
            tree_first=i32(tree_first), tree_root=i32(pad(roots)), leaf_val=f64(pad(leaf_val, 0.0)),
            node_off=i32(pad(node_off)), node_num=f64(pad(node_num, 0.0)),
            shap_tree=i32(pad([t for _, t in tree_class])), class_bounds=i32(class_bounds), quad=f64(quad),
            max_nodes=int(max_nodes), max_unique=max_unique, bias=f64([bias]),
        )

    @property
    def max_width(self) -> int:
        used = np.nonzero(np.diff(self.class_bounds))[0]
        return WIDTHS[used[-1]] if len(used) else 1

    def dims(self) -> np.ndarray:
        return np.array([self.num_features, len(self.node_kind), len(self.tree_root), self.max_nodes, self.max_width,
                         *self.kind_bounds, *self.class_bounds], dtype=np.int32)


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
    """Compile the kernel once per process (~1 s); None without llvmlite (or if LLVM fails: logged)."""
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
    """kefu_shap_rows(ctx, n, X, out): per row of X, out's row is the contributions, the bias (expected value) and
    the raw score; see the module docstring."""
    from llvmlite import ir

    i8, i32, i64, f64 = ir.IntType(8), ir.IntType(32), ir.IntType(64), ir.DoubleType()
    module = ir.Module(name="kefu_treeshap")
    c32 = lambda v: ir.Constant(i32, v)  # noqa: E731
    c64 = lambda v: ir.Constant(i64, v)  # noqa: E731
    c8 = lambda v: ir.Constant(i8, v)  # noqa: E731
    cf = lambda v: ir.Constant(f64, v)  # noqa: E731
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [i64.as_pointer(), i32, f64.as_pointer(), f64.as_pointer()]),
                     name="kefu_shap_rows")
    ctx_arg, nrows, xs, outs = fn.args
    fabs = module.declare_intrinsic("llvm.fabs", [f64])
    entry = fn.append_basic_block("entry")
    body = fn.append_basic_block("body")
    b = ir.IRBuilder(entry)
    types = {"dims": i32, "node_feat": i32, "node_thr": f64, "node_defl": i8, "node_left": i32, "node_right": i32,
             "node_cat_off": i32, "node_cat_len": i32, "cat_left": i8, "node_order": i32, "tree_first": i32,
             "tree_root": i32, "leaf_val": f64, "node_off": i32, "node_num": f64, "shap_tree": i32, "quad": f64,
             "bias": f64}
    a = {n: b.inttoptr(b.load(b.gep(ctx_arg, [c32(i)])), types[n].as_pointer()) for i, n in enumerate(_CTX_FIELDS)}
    ld = lambda arr, i: b.load(b.gep(a[arr], [i]))  # noqa: E731
    dim = lambda i: ld("dims", c32(i))  # noqa: E731
    nfeat, nnodes, ntrees, max_nodes, max_width = dim(0), dim(1), dim(2), dim(3), dim(4)
    kind_bounds = [dim(_DIM_NODE_BOUNDS + i) for i in range(5)]
    class_bounds = [dim(_DIM_CLASS_BOUNDS + i) for i in range(len(WIDTHS) + 1)]
    dec = b.alloca(i8, size=b.add(nnodes, c32(1)), name="dec")
    # the edge slots: a fixed size (every tree fits), so that the kernel addresses them from the stack pointer
    slots = b.alloca(ir.ArrayType(f64, _SLOTS * _SLOT_VECTORS * WIDTHS[-1]), name="slots")
    slots.align = 64
    scratch = b.bitcast(slots, i8.as_pointer())
    acc = b.alloca(f64, size=b.mul(b.add(nfeat, c32(1)), max_width), name="acc")
    acc.align = 64
    acc_bytes = b.bitcast(acc, i8.as_pointer())
    variables = {name: b.alloca(i32, name=name) for name in ("r", "g", "t", "node", "f", "tt")}
    variables["sum"] = b.alloca(f64, name="sum")
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
    phi = b.gep(outs, [b.mul(r, b.add(nfeat, c32(2)))])
    f, close = loop("f", c32(0), nfeat)
    b.store(cf(0.0), b.gep(phi, [f]))
    close()
    b.store(ld("bias", c32(0)), b.gep(phi, [nfeat]))

    # 1. every internal node's decision (1 = left), LightGBM's Tree::Decision, one loop per kind
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
    b.store(b.load(variables["sum"]), b.gep(phi, [b.add(nfeat, c32(1))]))

    # 3. TreeSHAP, node by node (see the module docstring), one width class of trees after another; each feature
    #    accumulates its terms at the quadrature nodes, and the weighted sum is taken once at the end of the class
    quad_offset = 0
    for c, width in enumerate(WIDTHS):
        vec = ir.VectorType(f64, width)
        vptr = vec.as_pointer()
        nodes_t = b.load(b.bitcast(b.gep(a["quad"], [c32(quad_offset)]), vptr), align=8)
        weights = b.load(b.bitcast(b.gep(a["quad"], [c32(quad_offset + width)]), vptr), align=8)
        quad_offset += 2 * width
        one_minus_t = b.fsub(ir.Constant(vec, [1.0] * width), nodes_t)
        zero_v, one_v = ir.Constant(vec, [0.0] * width), ir.Constant(vec, [1.0] * width)

        def splat(value, vec=vec, width=width):
            return b.shuffle_vector(b.insert_element(ir.Constant(vec, ir.Undefined), value, c32(0)),
                                    ir.Constant(vec, ir.Undefined), ir.Constant(ir.VectorType(i32, width), [0] * width))

        def at(base, offset, field=0, vptr=vptr, width=width):
            """Pointer to a vector ``offset`` bytes (i64) into ``base`` (+ ``field`` vectors: P 0, I 1, S 2, C 3,
            z 4); constant parts in their own in-bounds step, so that they fold into the addressing mode."""
            pointer = b.gep(base, [offset], inbounds=True)
            if field:
                pointer = b.gep(pointer, [c64(8 * width * field)], inbounds=True)
            return b.bitcast(pointer, vptr)

        def vload(base, offset, field=0):
            return b.load(at(base, offset, field), align=8)

        def vstore(value, base, offset, field=0):
            b.store(value, at(base, offset, field), align=8)

        def z_at(offset, width=width):
            return b.bitcast(at(scratch, offset, 4), f64.as_pointer())

        slot_bytes = c64(8 * _SLOT_VECTORS * width)
        with b.if_then(b.icmp_signed("<", class_bounds[c], class_bounds[c + 1])):
            f, close = loop("f", c32(0), nfeat)
            b.store(zero_v, b.bitcast(b.gep(acc, [b.mul(f, c32(width))]), vptr), align=8)
            close()
            vstore(one_v, scratch, c64(0), 0)                       # slot 0: no edge (P = 1/f = z = 1)
            vstore(one_v, scratch, c64(0), 1)
            b.store(cf(1.0), z_at(c64(0)))
            tt, close_tt = loop("tt", class_bounds[c], class_bounds[c + 1])
            tree = ld("shap_tree", tt)
            first, end = ld("tree_first", tree), ld("tree_first", b.add(tree, c32(1)))

            def record(g):
                """(edge in, previous edge on the feature, accumulator, own left edge) byte offsets as i64, and the
                node's numbers."""
                g64 = b.sext(g, i64)
                offsets = b.gep(a["node_off"], [b.mul(g64, c64(4))], inbounds=True)
                offsets = [b.sext(b.load(b.gep(offsets, [c64(k)], inbounds=True)), i64) for k in range(4)]
                return offsets, b.gep(a["node_num"], [b.mul(g64, c64(8))], inbounds=True)

            def number(numbers, k):
                return b.load(b.gep(numbers, [c64(k)], inbounds=True))

            # top down: z, P and 1/f of both edges; S starts as the leaf's v·P (0 for an internal child), C as 0
            g, close_g = loop("g", first, end)
            (pe, pv, _, own), numbers = record(g)
            z_prev = b.load(z_at(pv))
            z_left = b.fmul(z_prev, b.uitofp(b.load(b.gep(dec, [g])), f64))
            base = b.fmul(vload(scratch, pe, 0), vload(scratch, pv, 1))     # the path's product without feature d
            zs = (z_left, b.fsub(z_prev, z_left))
            factors = [b.fadd(b.fmul(splat(number(numbers, side)), one_minus_t), b.fmul(splat(zs[side]), nodes_t))
                       for side in (0, 1)]
            # one division for both edges (1/f_L = f_R / (f_L·f_R)): the divider's throughput bounds this loop
            both = b.fdiv(one_v, b.fmul(factors[0], factors[1]))
            for side in (0, 1):
                slot = b.add(own, slot_bytes) if side else own
                product = b.fmul(base, factors[side])
                vstore(product, scratch, slot, 0)
                vstore(b.fmul(factors[1 - side], both), scratch, slot, 1)
                vstore(b.fmul(splat(number(numbers, 4 + side)), product), scratch, slot, 2)
                vstore(zero_v, scratch, slot, 3)
                b.store(zs[side], z_at(slot))
            close_g()

            # bottom up (reverse preorder: a node's subtree before it): K of both edges, the feature's Δ·K terms,
            # and the node's S handed to the edge into it, its K − I·S to the previous edge on its feature
            i, close_i = loop("g", c32(0), b.sub(end, first))
            g = b.sub(b.sub(end, c32(1)), i)
            (pe, pv, feature, own), numbers = record(g)
            z_prev = b.load(z_at(pv))
            s_sum = k_sum = term = None
            for side in (0, 1):
                slot = b.add(own, slot_bytes) if side else own
                s = vload(scratch, slot, 2)
                k = b.fadd(b.fmul(s, vload(scratch, slot, 1)), vload(scratch, slot, 3))
                delta = b.fadd(b.fsub(b.load(z_at(slot)), z_prev), number(numbers, 2 + side))
                weighted_k = b.fmul(splat(delta), k)
                term = weighted_k if term is None else b.fadd(term, weighted_k)
                s_sum = s if s_sum is None else b.fadd(s_sum, s)
                k_sum = k if k_sum is None else b.fadd(k_sum, k)
            vstore(b.fadd(vload(acc_bytes, feature), term), acc_bytes, feature)
            correction = b.fsub(k_sum, b.fmul(s_sum, vload(scratch, pv, 1)))
            vstore(b.fadd(vload(scratch, pv, 3), correction), scratch, pv, 3)
            vstore(s_sum, scratch, pe, 2)
            close_i()
            close_tt()

            f, close = loop("f", c32(0), nfeat)
            weighted = b.fmul(b.load(b.bitcast(b.gep(acc, [b.mul(f, c32(width))]), vptr), align=8), weights)
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
    shap = ctypes.CFUNCTYPE(None, vp, ctypes.c_int32, vp, vp)(engine.get_function_address("kefu_shap_rows"))
    return engine, shap

def _address(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0]


def _buffer_address(array: np.ndarray) -> int:
    """The data address of a writable C-contiguous array: a quarter of the cost of ``__array_interface__``, which
    builds a dictionary (three of those were ~10k instructions of a score request)."""
    return ctypes.addressof(ctypes.c_char.from_buffer(array))


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
        self.bias = float(tables.bias[0])

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
        out = np.empty((n, self.num_features + 2))              # the kernel writes every value of it
        if n:
            try:
                source = _buffer_address(x)
            except TypeError:                                    # a read-only array: a writable copy
                x = x.copy()
                source = _buffer_address(x)
            self._shap(self._ctx_ptr, n, source, _buffer_address(out))
        return out[:, -1], out[:, :-1]
