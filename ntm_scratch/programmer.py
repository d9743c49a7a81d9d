"""The Neural Programmer (Neelakantan, Le, Sutskever 2016, arXiv 1511.04834, §2; MATH.md, "Neural
Programmer"): soft selection of an operation and a column at every step.

This file so far holds the two pieces every step is made of, each a forward/backward pair:

    selector        α = softmax(E·tanh(W·[q; h_t]))       (E = U for operations, P for columns)
    operations      every operation runs on the previous steps' outputs; the outputs are mixed
                    by the operation and column weights:

    scalar_t     = α(count)·count + α(difference)·(scalar_{t-3} − scalar_{t-1})
                   + Σ_j α^col(j)·α(sum)·sum_j
    row_select_t = α(and)·min(rs_{t-1}, rs_{t-2}) + α(or)·max(rs_{t-1}, rs_{t-2}) + α(reset)·1
                   + Σ_j α^col(j)·(α(greater)·[table_ij > pivot_g] + α(lesser)·[table_ij < pivot_l])
    lookup_t(i,j)= α^col(j)·α(print)·rs_{t-1}(i)
    with sum_j = Σ_i rs_{t-1}(i)·table_ij and count = Σ_i rs_{t-1}(i).

The comparisons: pivots by rule. The pivots are the numbers the question attaches to "greater"
and "lesser", taken from the question as data, so [table > pivot] is a 0/1 input computed once
per question and no gradient crosses a step function. min and max (and, or) have kinks where
their two arguments are equal; the tests keep away from them and say so.

Tables are padded to R rows with a row mask (B, R); a padded row is never selected, counted or
summed. The question RNN, the history RNN, the model over T steps and its tasks are still to
come (the Neural Programmer issue).
"""
from .backend import array_module
from .ops import softmax_backward, softmax_forward

OPS = ("sum", "count", "difference", "greater", "lesser", "and", "or", "print", "reset")
OP = {name: k for k, name in enumerate(OPS)}


def selector_forward(q, h, W, E):
    """α = softmax(E·tanh(W·[q; h])).

    q: (B, Dq) the question, h: (B, H) the history, W: (Dq + H, D), E: (K, D) one embedding per
    choice (operations or columns). Returns α (B, K) and the cache.
    """
    xp = array_module(q)
    qh = xp.concatenate([q, h], axis=1)
    a = xp.tanh(qh @ W)                                        # (B, D)
    alpha, sm_cache = softmax_forward(a @ E.T)
    return alpha, (qh, q.shape[1], a, W, E, sm_cache)


def selector_backward(dalpha, cache):
    """Returns dq, dh, dW, dE."""
    qh, Dq, a, W, E, sm_cache = cache
    dlogits = softmax_backward(dalpha, sm_cache)               # through the softmax
    dE = dlogits.T @ a                                         # logits = a·Eᵀ
    dz = (dlogits @ E) * (1.0 - a * a)                         # into a, through the tanh
    dqh = dz @ W.T                                             # a = tanh([q; h]·W)
    return dqh[:, :Dq], dqh[:, Dq:], qh.T @ dz, dE


def operations_forward(alpha_op, alpha_col, prev, table, row_mask, greater, lesser):
    """One step's operations, mixed by the selection weights.

    alpha_op: (B, len(OPS)); alpha_col: (B, C); prev: {'rs1', 'rs2': (B, R) the row selections of
    steps t−1 and t−2; 's1', 's3': (B,) the scalars of steps t−1 and t−3}; table: (B, R, C);
    row_mask: (B, R) 1 on real rows; greater, lesser: (B, R, C) the comparisons [table > pivot_g]
    and [table < pivot_l] as 0/1 (zero on padded rows).
    Returns {'scalar': (B,), 'rs': (B, R), 'lookup': (B, R, C)} and the cache.
    """
    xp = array_module(table)
    a = {name: alpha_op[:, k] for name, k in OP.items()}
    rs1, rs2 = prev["rs1"], prev["rs2"]
    sums = (rs1[:, None, :] @ table)[:, 0]                     # sum_j = Σ_i rs_{t-1}(i) table_ij
    count = rs1.sum(axis=1)                                    # count = Σ_i rs_{t-1}(i)
    scalar = (a["count"] * count + a["difference"] * (prev["s3"] - prev["s1"])
              + a["sum"] * (alpha_col * sums).sum(axis=1))
    lo, hi = xp.minimum(rs1, rs2), xp.maximum(rs1, rs2)        # and, or
    compare = a["greater"][:, None, None] * greater + a["lesser"][:, None, None] * lesser
    rs = (a["and"][:, None] * lo + a["or"][:, None] * hi + a["reset"][:, None] * row_mask
          + (compare * alpha_col[:, None, :]).sum(axis=2))
    lookup = (alpha_col * a["print"][:, None])[:, None, :] * rs1[:, :, None]
    out = {"scalar": scalar, "rs": rs, "lookup": lookup}
    return out, (alpha_op, alpha_col, prev, table, row_mask, greater, lesser, sums, count, lo,
                 hi, rs1 <= rs2)


def operations_backward(dout, cache):
    """dout: {'scalar', 'rs', 'lookup'}. Returns dalpha_op, dalpha_col and {'rs1', 'rs2', 's1',
    's3'}: the gradients of the previous steps' outputs (the table and comparisons are data)."""
    alpha_op, alpha_col, prev, table, row_mask, greater, lesser, sums, count, lo, hi, \
        first_is_min = cache
    xp = array_module(table)
    ds, drs, dlook = dout["scalar"], dout["rs"], dout["lookup"]
    a = {name: alpha_op[:, k] for name, k in OP.items()}
    dop = xp.zeros_like(alpha_op)
    # scalar = α(count)·count + α(diff)·(s3 − s1) + α(sum)·Σ_j α^col_j sum_j
    dop[:, OP["count"]] = ds * count
    dop[:, OP["difference"]] = ds * (prev["s3"] - prev["s1"])
    dop[:, OP["sum"]] = ds * (alpha_col * sums).sum(axis=1)
    dcol = (ds * a["sum"])[:, None] * sums
    dsums = (ds * a["sum"])[:, None] * alpha_col                              # (B, C)
    drs1 = (table @ dsums[:, :, None])[:, :, 0] + (ds * a["count"])[:, None]  # sums and count
    # rs = α(and)·min + α(or)·max + α(reset)·mask + Σ_j α^col_j (α(gt)·gt_ij + α(lt)·lt_ij)
    dop[:, OP["and"]] = (drs * lo).sum(axis=1)
    dop[:, OP["or"]] = (drs * hi).sum(axis=1)
    dop[:, OP["reset"]] = (drs * row_mask).sum(axis=1)
    dop[:, OP["greater"]] = (drs[:, :, None] * greater * alpha_col[:, None, :]).sum(axis=(1, 2))
    dop[:, OP["lesser"]] = (drs[:, :, None] * lesser * alpha_col[:, None, :]).sum(axis=(1, 2))
    compare = a["greater"][:, None, None] * greater + a["lesser"][:, None, None] * lesser
    dcol = dcol + (drs[:, :, None] * compare).sum(axis=1)
    dlo, dhi = a["and"][:, None] * drs, a["or"][:, None] * drs             # min, max: the
    drs1 = drs1 + xp.where(first_is_min, dlo, dhi)                         # smaller argument
    drs2 = xp.where(first_is_min, dhi, dlo)                                # takes dlo
    # lookup = α^col_j α(print) rs1_i
    dop[:, OP["print"]] = (dlook * alpha_col[:, None, :] * prev["rs1"][:, :, None]).sum(axis=(1, 2))
    dcol = dcol + (dlook * (a["print"][:, None, None] * prev["rs1"][:, :, None])).sum(axis=1)
    drs1 = drs1 + (dlook * (alpha_col * a["print"][:, None])[:, None, :]).sum(axis=2)
    return dop, dcol, {"rs1": drs1, "rs2": drs2, "s1": -ds * a["difference"],
                       "s3": ds * a["difference"]}
